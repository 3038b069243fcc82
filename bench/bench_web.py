"""Server time of the console's list page and entry page at 200 and at 20,000 entries.

    python bench/bench_web.py [--sizes 200 20000] [--requests 200]

The register is filled by a real pass over a handful of composed entries (real JPEGs with EXIF), then
grown by copying those judged rows in SQL (the triggers of migration m0101 keep `entry_list` as
the daemon would). Requests go through the whole Flask app (session, role check, query, template)
in this process; the time is the server's, no network. Target: the 20,000 figure at most twice the
200 figure (indexes and pages, no full scans).
"""

from __future__ import annotations

import argparse
import mailbox
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import write_config  # noqa: E402

from inbox_daemon import accounts  # noqa: E402
from inbox_daemon.config import load_config  # noqa: E402
from inbox_daemon.demo import media  # noqa: E402
from inbox_daemon.demo.samples import CST, compose  # noqa: E402
from inbox_daemon.ingest import poll_all  # noqa: E402
from inbox_daemon.store import Store  # noqa: E402

PASSWORD = "bench password 1"
SEEDS = 12


def seed_mail() -> list[bytes]:
    photo = media.make_jpeg(size=2_100_000, seed=1)
    edited = media.make_jpeg(size=2_100_000, seed=2, software="Adobe Photoshop 23.0")
    mail = []
    for n in range(SEEDS):
        mail.append(compose(
            sender=f"author{n}@qq.com", sender_name=f"作者{n}", to="ldghxjb@163.com", subject=f"摄影比赛《作品{n}》",
            received=datetime(2022, 8, 1, 9, tzinfo=CST) + timedelta(hours=n),
            body=(f"作品名称：作品{n}\n作者：作者{n}\n作者单位：娄底市第{n}中学\n联系电话：1380013{n:04d}\n"
                  f"作品简介：清晨的校园。\n" + ("拍摄时间：2022-07-01\n拍摄地点：娄底\n" if n % 3 else "")),
            attachments=[(f"作品{n}.jpg", edited if n % 4 == 0 else photo, "image/jpeg")]))
    return mail


COPIED = ("mailbox, folder, uidvalidity, status, outcome, sender, sender_name, reply_to, subject, body_text, headers, "
          "defects, contest, fields, rules, parsed_at, stored_at, raw_size, message_id, links")


def grow(store: Store, total: int) -> None:
    """Copy the judged seed rows until there are `total` entries, each with its own receipt and time."""
    seeds = [row[0] for row in store.db.execute("SELECT id FROM messages WHERE receipt IS NOT NULL ORDER BY id")]
    have = len(seeds)
    rng = random.Random(7)
    with store.write():
        for n in range(have, total):
            seed = seeds[n % len(seeds)]
            received = (datetime(2022, 5, 16, tzinfo=CST) + timedelta(minutes=rng.randrange(0, 150 * 24 * 60)))
            pk = store.db.execute(
                f"INSERT INTO messages ({COPIED}, uid, raw_sha256, received_at, receipt) "
                f"SELECT {COPIED}, ?, ?, ?, ? FROM messages WHERE id = ?",
                [f"g{n}", f"{n:064x}", received.isoformat(), f"SY-2022-{n + 1:05d}", seed]).lastrowid
            store.db.execute("INSERT INTO attachments (message, position, filename, sha256, size, kind, mime, "
                             "declared_type, duration_s, width, height, meta) SELECT ?, position, filename, sha256, "
                             "size, kind, mime, declared_type, duration_s, width, height, meta FROM attachments "
                             "WHERE message = ?", [pk, seed])
    count = store.db.execute("SELECT COUNT(*) FROM entry_list WHERE receipt IS NOT NULL").fetchone()[0]
    assert count == total, (count, total)


def timed(client, url: str, requests: int) -> list[float]:
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return times


def measure(size: int, requests: int, mail: list[bytes]) -> dict[str, list[float]]:
    work = Path(tempfile.mkdtemp(prefix="inbox-bench-web-"))
    box = mailbox.Maildir(work / "Maildir", create=True)
    for raw in mail:
        box.add(raw)
    config = load_config(write_config(work, [{"name": "bench", "source": "maildir", "path": str(work / "Maildir"),
                                              "contests": ["photo"]}], web={"listen": "127.0.0.1:8080"}))
    store = Store.from_config(config)
    poll_all(config, store)
    grow(store, size)
    accounts.add_user(store.db, "bench", "reviewer", PASSWORD)
    os.environ.setdefault("INBOX_WEB_SECRET", "b" * 40)
    from inbox_daemon.web import create_app
    app = create_app(config)
    client = app.test_client()
    assert client.post("/login", data={"name": "bench", "password": PASSWORD, "csrf_token": _token(client)}
                       ).status_code == 302
    receipts = [row[0] for row in store.db.execute("SELECT receipt FROM entry_list WHERE receipt IS NOT NULL")]
    rng = random.Random(1)
    timed(client, "/entries", 5)  # warm the caches and the templates
    results = {
        "list": timed(client, "/entries", requests),
        "list, filtered": timed(client, "/entries?outcome=needs_review&contest=photo", requests),
        "list, page 5": timed(client, "/entries?page=5", requests),
    }
    entry_times = []
    for receipt in rng.sample(receipts, min(requests, len(receipts))):
        entry_times += timed(client, f"/entries/{receipt}", 1)
    results["entry"] = entry_times
    store.close()
    return results


def _token(client) -> str:
    import re
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 20_000])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    mail = seed_mail()
    table = {}
    for size in args.sizes:
        table[size] = measure(size, args.requests, mail)
    print(f"{'page':<16}" + "".join(f"{f'{size} p50':>12}{f'{size} p95':>12}" for size in args.sizes) + "   ratio p50")
    for page in table[args.sizes[0]]:
        cells = "".join(f"{statistics.median(table[s][page]):>10.1f}ms{percentile(table[s][page], 95):>10.1f}ms"
                        for s in args.sizes)
        ratio = statistics.median(table[args.sizes[-1]][page]) / statistics.median(table[args.sizes[0]][page])
        print(f"{page:<16}{cells}   {ratio:.2f}")


if __name__ == "__main__":
    main()
