"""Rules files: the shipped ones load; a broken one is rejected with file, key and reason."""

from __future__ import annotations

import io
import shutil

import pytest
from conftest import RULES

from inbox_daemon.errors import ConfigError
from inbox_daemon.extract import large_attachment_links
from inbox_daemon.probe import probe_image
from inbox_daemon.rules import load_rules


def test_shipped_rules_match_rules_md():
    rules = load_rules(RULES)
    assert set(rules.contests) == {"micro_video", "photo", "reading_promoter", "reading_team", "bookhouse"}
    video = rules.contests["micro_video"]
    assert (video.video.max_duration_s, video.video.min_short_side) == (180, 720)
    assert video.closes.isoformat() == "2022-09-30T23:59:59+08:00"
    photo = rules.contests["photo"]
    assert (photo.photos.min_bytes, photo.photos.set_min) == (2_000_000, 4)
    assert photo.opens.isoformat() == "2022-05-16T00:00:00+08:00"
    assert rules.contests["reading_team"].field_rule("members").min == 6
    assert rules.contests["reading_promoter"].video.max_duration_s == 300
    assert {rules.severity(r) for r in ("late", "early", "bio_length", "duplicate_resubmission")} == {
        "reject", "review", "warn", "info"}


def test_broken_rules_file_names_file_key_and_reason(tmp_path):
    shutil.copytree(RULES, tmp_path / "rules")
    path = tmp_path / "rules" / "photo.toml"
    text = path.read_text(encoding="utf-8").replace("min_bytes = 2000000", 'min_bytes = "2MB"')
    path.write_text(text.replace("[routing]", "colour = 1\n[routing]"), encoding="utf-8")
    (tmp_path / "rules" / "micro_video.toml").write_text(
        (RULES / "micro_video.toml").read_text(encoding="utf-8").replace('kind = "gender"', 'kind = "sex"'),
        encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules(tmp_path / "rules")
    message = str(caught.value)
    assert "photo.toml: photos.min_bytes: 类型应为 int / must be int" in message
    assert "photo.toml: colour: 未知的键 / unknown key" in message
    assert "micro_video.toml: fields.gender.kind" in message


def test_toml_syntax_error_in_rules(tmp_path):
    shutil.copytree(RULES, tmp_path / "rules")
    (tmp_path / "rules" / "bookhouse.toml").write_text("id = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bookhouse.toml: TOML 语法错误"):
        load_rules(tmp_path / "rules")


@pytest.mark.parametrize("text,url_part,size,expires", [
    ("超大附件 a.mp4 (1.2G, 30天后过期) https://wx.mail.qq.com/ftn/download?func=3&k=abc", "wx.mail.qq.com", "1.2G",
     None),
    ("网易邮箱大师云附件 https://dashi.163.com/html/cloud-attachment-download/index.html?key=1 (512M, 2022年9月3日 8:05 到期)",
     "dashi.163.com", "512M", "2022-09-03T08:05:00+08:00"),
    ("从网易126邮箱发来的超大附件 https://mail.126.com/large-attachment-download/index.html?p=1 (80.96M, 2022年10月17日 0:49 到期)",
     "mail.126.com", "80.96M", "2022-10-17T00:49:00+08:00"),
])
def test_large_attachment_link_patterns(text, url_part, size, expires):
    common = load_rules(RULES).common
    [link] = large_attachment_links(text, "", common)
    assert url_part in link["url"] and link["size"] == size and link["expires"] == expires
    if "30天后过期" in text:
        assert link["expires_in_days"] == 30


def test_no_link_in_ordinary_text():
    assert large_attachment_links("请见 https://mail.qq.com/ 首页", "", load_rules(RULES).common) == []


def test_decompression_bomb_image_is_refused_not_decoded():
    from PIL import Image
    bomb = io.BytesIO()
    Image.new("1", (30000, 30000)).save(bomb, "PNG")  # ~900 M pixels, a few hundred KB on disk
    found = probe_image(bomb.getvalue())
    assert found["readable"] is False and "decompression bomb" in found["note"]


