"""`pip install` into a fresh virtual environment, then init, check and poll in an empty folder: what an
operator does, run from the installed package (never from this checkout).

The package is built and installed for real (a wheel, not an editable install); its dependencies
come from the test environment's site-packages through a .pth line, so no network is needed.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from datetime import datetime
from pathlib import Path

import pytest

from inbox_daemon.demo.samples import CST, compose

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration  # a pip build and child processes


def test_pip_install_then_init_check_and_poll_in_an_empty_folder(tmp_path):
    fresh = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(fresh)  # pip and the build backend come from the test environment
    python = fresh / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    # Built from a copy of the source, as a release tarball would be: never from this checkout's build/ leftovers.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "data", "reports", "docs", "tests", "*.egg-info", "__pycache__"))
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                                "--no-build-isolation", "-q", str(source)],
                               capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert installed.returncode == 0, installed.stderr

    folder = tmp_path / "empty"
    folder.mkdir()
    where = subprocess.run([python, "-c", "import inbox_daemon; print(inbox_daemon.__file__)"], capture_output=True,
                           text=True, cwd=folder, env=env, check=True).stdout.strip()
    assert where.startswith(str(site)), where  # the installed copy, not this checkout
    command = [str(fresh / "bin" / "inbox-daemon")]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*command, *args], capture_output=True, text=True, cwd=folder, env=env, timeout=120)

    made = run("init", ".")
    assert made.returncode == 0, made.stderr
    assert (folder / "config.toml").read_text(encoding="utf-8") == (ROOT / "config.toml").read_text(encoding="utf-8")
    assert sorted(str(p.relative_to(folder / "rules")) for p in (folder / "rules").rglob("*.toml")) == \
        sorted(str(p.relative_to(ROOT / "rules")) for p in (ROOT / "rules").rglob("*.toml"))
    checked = run("check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "✓ 比赛规则" in checked.stdout and "✓ 邮箱 demo" in checked.stdout
    mailbox.Maildir(folder / "data" / "samples" / "Maildir").add(compose(
        sender="a@qq.com", subject="微视频比赛《守护》", body="作品名称：守护", received=datetime(2022, 10, 3, tzinfo=CST)))
    polled = run("poll", "--once")
    assert polled.returncode == 0, polled.stderr
    assert "邮箱 demo：新邮件 1 封" in polled.stdout and "回复：发出 1 封" in polled.stdout
    [reply] = (folder / "data" / "outbox").glob("*.eml")  # the templates shipped: a late entry's reply
    message = email.message_from_bytes(reply.read_bytes(), policy=email.policy.default)
    assert message["Subject"].startswith("【未能受理】") and "不能受理" in message.get_body(("plain",)).get_content()
    assert (folder / "data" / "inbox.db").exists()
    digest = run("digest", "--date", "2022-10-03", "--no-send")
    assert digest.returncode == 0 and (folder / "reports" / "2022-10-03.html").exists(), digest.stderr
    assert sys.prefix != str(fresh)
