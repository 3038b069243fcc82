"""The console's server side without a browser (fast): roles on every endpoint, headers, files by hash
with the probed type and Range, HTML mail shown as text, sessions that expire, the list's indexes,
and the staff CLI over the same queries."""

from __future__ import annotations

import json
import mailbox
import re
import time

import pytest
from click.testing import CliRunner
from conftest import write_config

from inbox_daemon import accounts, queries, staff
from inbox_daemon.cli import main as cli
from inbox_daemon.config import load_config
from inbox_daemon.demo import media
from inbox_daemon.demo.samples import compose
from inbox_daemon.ingest import poll_all
from inbox_daemon.pipeline import Context
from inbox_daemon.rules import load_rules
from inbox_daemon.store import Store

PASSWORD = "a long password 1"
BODY = "作品名称：{title}\n作者：{author}\n作者单位：娄底市第一中学\n联系电话：13800138000\n作品简介：清晨的校园。\n"
DOCX = "附件1 阅读推广人风采展示作品申报表.docx"


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch):
    from argon2 import PasswordHasher
    monkeypatch.setattr(accounts, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(scope="module")
def mail():
    photo = media.make_jpeg(size=2_100_000, seed=3)
    form = media.make_docx("阅读推广人风采展示作品申报表", [["姓名", "所在单位及职务"], ["唐丽华", "娄底市图书馆"]])
    return [
        compose(sender="a@qq.com", sender_name="甲", to="ldghxjb@163.com", subject="摄影比赛《晨光》",
                body=BODY.format(title="晨光", author="甲"),
                attachments=[("晨光.jpg", photo, "application/octet-stream")]),  # the sender's type is wrong
        compose(sender="b@qq.com", sender_name="乙", subject="阅读推广人风采展示-乙", body="申报表见附件",
                attachments=[(DOCX, form, "application/octet-stream")]),
        compose(sender="c@qq.com", subject="摄影比赛《夜色》",
                html='<p>作品名称：夜色</p><script>alert("x")</script><img src="http://tracker.example/p.gif">'),
        compose(sender="d@qq.com", subject="你好", body="作品名称：春天\n请问怎么投稿？"),  # no contest named
    ]


@pytest.fixture
def site(tmp_path, mail, monkeypatch):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for raw in mail:
        box.add(raw)
    config = load_config(write_config(tmp_path, [{"name": "demo", "source": "maildir", "path": str(tmp_path / "Maildir"),
                                                  "contests": ["photo", "reading_promoter", "micro_video"]}],
                                      web={"listen": "127.0.0.1:8080"}))
    store = Store.from_config(config)
    poll_all(config, store)
    for role in accounts.ROLES:
        accounts.add_user(store.db, role, role, PASSWORD)
    monkeypatch.setenv("INBOX_WEB_SECRET", "s" * 40)
    from inbox_daemon.web import create_app
    app = create_app(config)
    app.config["WTF_CSRF_ENABLED"] = False  # the browser tests cover CSRF; here roles and files
    yield app, store, config
    store.close()


def client_as(app, role: str | None):
    client = app.test_client()
    if role:
        response = client.post("/login", data={"name": role, "password": PASSWORD})
        assert response.status_code == 302, response.data
    return client


def test_every_view_declares_its_roles_and_jurors_see_no_entry_page(site):
    app, store, _ = site
    undeclared = [name for name, view in app.view_functions.items()
                  if name not in ("auth.login", "static") and not getattr(view, "allowed_roles", None)]
    assert undeclared == []
    juror = client_as(app, "juror")
    receipt = store.register.entries()[0]["receipt"]
    sha = next(iter(store.db.query("SELECT sha256 FROM attachments LIMIT 1")))["sha256"]
    for url in ("/overview", "/entries", f"/entries/{receipt}", "/review", "/rules", "/digests",
                f"/files/{sha}", "/entries/export", "/admin/users", "/admin/audit", "/messages/1/raw"):
        assert juror.get(url).status_code == 403, url
    assert juror.post(f"/entries/{receipt}/decide", data={"decision": "accept", "note": "x"}).status_code == 403
    assert "作品评审" in juror.get("/", follow_redirects=True).get_data(as_text=True)  # the jury pages
    assert client_as(app, None).get("/overview").status_code == 302  # to the login page


def test_viewers_read_but_every_action_is_refused(site):
    app, store, _ = site
    viewer = client_as(app, "viewer")
    receipt = store.register.entries()[0]["receipt"]
    assert viewer.get(f"/entries/{receipt}").status_code == 200
    for url, data in ((f"/entries/{receipt}/decide", {"decision": "accept", "note": "x"}),
                      (f"/entries/{receipt}/requeue", {}), (f"/entries/{receipt}/contest", {"contest": "photo"}),
                      (f"/entries/{receipt}/field", {"field": "title", "value": "x"}), ("/entries/bulk", {}),
                      ("/outbox/1/resend", {}), ("/admin/users", {"name": "x", "role": "admin"})):
        assert viewer.post(url, data=data).status_code == 403, url
    assert viewer.get("/entries/export").status_code == 403
    assert viewer.get("/export/photo.xlsx").status_code == 403
    assert store.db.execute("SELECT COUNT(*) FROM overrides").fetchone()[0] == 0


def test_security_headers_and_a_csp_without_inline_scripts(site):
    app, _, _ = site
    response = client_as(app, "admin").get("/overview")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    csp = response.headers["Content-Security-Policy"]
    script = re.search(r"script-src ([^;]*)", csp)[1]
    assert script.strip() == "'self'" and "unsafe" not in csp
    assert "frame-ancestors 'none'" in csp
    html = response.get_data(as_text=True)
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []  # no inline script anywhere
    assert " style=" not in html


def test_files_only_by_linked_hash_with_the_probed_type_and_ranges(site):
    app, store, _ = site
    admin = client_as(app, "admin")
    photo = next(iter(store.db.query("SELECT * FROM attachments WHERE filename='晨光.jpg'")))
    response = admin.get(f"/files/{photo['sha256']}")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"  # probed, not the sender's
    assert "attachment" not in response.headers.get("Content-Disposition", "")
    ranged = admin.get(f"/files/{photo['sha256']}", headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206 and len(ranged.data) == 100
    assert ranged.headers["Content-Range"] == f"bytes 100-199/{photo['size']}"
    raw_sha = store.register.message(1)["raw_sha256"]  # a stored blob, but no entry links it as a file
    assert admin.get(f"/files/{raw_sha}").status_code == 404
    assert admin.get("/files/" + "0" * 64).status_code == 404
    stray = store.blobs.put("att", b"a stored file that no entry links")
    assert store.blobs.path("att", stray).is_file() and admin.get(f"/files/{stray}").status_code == 404
    assert admin.get("/files/../../etc/passwd").status_code == 404
    form = next(iter(store.db.query("SELECT * FROM attachments WHERE filename=?", [DOCX])))
    download = admin.get(f"/files/{form['sha256']}")
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and "filename*=UTF-8''" in disposition
    assert "%E9%98%85%E8%AF%BB" in disposition  # 阅读, RFC 5987
    assert download.mimetype == "application/octet-stream"
    assert admin.get(f"/files/{photo['sha256']}/thumbnail").mimetype == "image/jpeg"


def test_requeue_preview_writes_nothing(site):
    app, store, _ = site
    reviewer = client_as(app, "reviewer")
    receipt = store.register.entries()[0]["receipt"]
    events = store.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    page = reviewer.get(f"/entries/{receipt}/preview", follow_redirects=True).get_data(as_text=True)
    assert "按当前规则重新判定" in page
    assert store.db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == events


def test_annex_exports_for_organizers(site):
    app, _, _ = site
    organizer = client_as(app, "organizer")
    assert "导出登记表" in organizer.get("/export").get_data(as_text=True)
    sheet = organizer.get("/export/photo.xlsx")
    assert sheet.status_code == 200 and "filename*=UTF-8''" in sheet.headers["Content-Disposition"]
    from io import BytesIO

    from openpyxl import load_workbook
    rows = list(load_workbook(BytesIO(sheet.data)).active.values)
    assert rows[0][0].endswith("登记表") and rows[1][0] == "序号"  # the sheet's title, then the header (tables.py)
    assert any("晨光" in str(cell) for row in rows[2:] for cell in row)
    assert organizer.get("/export/nope.xlsx").status_code == 404


def test_html_mail_is_shown_as_text_and_forms_as_an_escaped_table(site):
    app, store, _ = site
    admin = client_as(app, "admin")
    row = next(r for r in store.register.rows() if r["sender"] == "c@qq.com")
    html = admin.get(f"/entries/{row['receipt']}").get_data(as_text=True)
    assert "tracker.example" not in html and 'alert("x")' not in html
    assert "作品名称：夜色" in html
    promoter = next(r for r in store.register.rows() if r["sender"] == "b@qq.com")
    page = admin.get(f"/entries/{promoter['receipt']}").get_data(as_text=True)
    assert "<td>唐丽华</td>" in page and "<td>娄底市图书馆</td>" in page


def test_sessions_expire_on_the_server(site, monkeypatch):
    from itsdangerous import TimestampSigner
    app, _, _ = site
    admin = client_as(app, "admin")
    assert admin.get("/overview").status_code == 200
    later = int(time.time()) + 12 * 3600 + 60  # just past `session_hours` (12): the signed cookie is too old
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)
    assert admin.get("/overview").status_code == 302


def test_a_busy_session_still_ends_its_hours_after_the_login_and_a_copied_cookie_dies_at_logout(site, monkeypatch):
    from datetime import datetime, timedelta
    import inbox_daemon.accounts as accounts_module
    app, _, _ = site
    admin = client_as(app, "admin")
    copy = app.test_client()
    copy.set_cookie("inbox_console", admin.get_cookie("inbox_console").value)  # a cookie copied off the PC
    assert copy.get("/overview").status_code == 200
    real = datetime

    class Later(datetime):  # eleven hours on, then thirteen: the cookie is re-signed on every request
        shift = timedelta(hours=11)

        @classmethod
        def now(cls, tz=None):
            return real.now(tz) + cls.shift

    monkeypatch.setattr(accounts_module, "datetime", Later)
    assert admin.get("/overview").status_code == 200
    Later.shift = timedelta(hours=13)
    assert admin.get("/overview").status_code == 302  # 13 h after the login, used an hour ago
    monkeypatch.setattr(accounts_module, "datetime", real)
    again = client_as(app, "admin")
    copy.set_cookie("inbox_console", again.get_cookie("inbox_console").value)
    assert copy.get("/overview").status_code == 200
    assert again.post("/logout").status_code == 302
    assert copy.get("/overview").status_code == 302  # the copy ended with the logout


def test_a_missing_or_short_session_key_stops_the_console(site, monkeypatch):
    from inbox_daemon.errors import ConfigError
    from inbox_daemon.web import create_app
    _, _, config = site
    monkeypatch.setenv("INBOX_WEB_SECRET", "short")
    with pytest.raises(ConfigError, match="INBOX_WEB_SECRET"):
        create_app(config)
    monkeypatch.delenv("INBOX_WEB_SECRET")
    with pytest.raises(ConfigError):
        create_app(config)


def test_entry_list_follows_every_change_like_register_entries(site):
    _, store, config = site
    rules = load_rules(config.rules_dir)
    context = Context.from_config(config, rules)

    def same():
        listed = {row["receipt"]: (row["message"], row["outcome"], row["contest"])
                  for row in store.db.query("SELECT * FROM entry_list WHERE receipt IS NOT NULL AND outcome <> 'error'")}
        current = {e["receipt"]: (e["id"], e["outcome"], e["contest"]) for e in store.register.entries()}
        assert listed == current
    same()
    receipts = [e["receipt"] for e in store.register.entries()]
    staff.override(store, receipts[0], "reject", "内部备注", context=context, message="")
    same()
    unrouted = next(r["receipt"] for r in store.register.entries() if r["contest"] is None)
    staff.set_contest(store, context, unrouted, "photo")
    same()
    staff.requeue(store, context, staff.select_messages(store, receipts=tuple(receipts)))
    same()
    # A message that moves to another receipt (a requeue finds it continues another entry), then one
    # that fails: the entries it leaves and joins are both recomputed.
    moved = store.register.entry(receipts[1])
    with store.write():
        store.db["messages"].update(moved["id"], {"receipt": receipts[2]})
    same()
    with store.write():  # and back: receipts[2] falls back to its own message
        store.db["messages"].update(moved["id"], {"receipt": receipts[1]})
    same()
    with store.write():
        store.db["messages"].update(moved["id"], {"receipt": receipts[2]})
    same()
    failed = store.register.entry(receipts[3])["id"]
    assert store.db.execute("SELECT COUNT(*) FROM messages WHERE receipt=?", [receipts[3]]).fetchone()[0] == 1
    store.register.save_error(failed, "RecursionError: test")
    same()
    assert queries.entry_page(store.db, queries.EntryFilter()).total == len(receipts) - 1  # one moved away
    # An entry whose only message failed is still listed, as an error waiting in the review queue.
    assert [r["message"] for r in queries.review_queue(store.db)[0] if r["outcome"] == "error"] == [failed]


def test_mail_set_aside_unread_waits_in_the_review_queue(site):
    from datetime import datetime, timezone

    from inbox_daemon.register import RawMessage
    app, store, _ = site
    pk, _ = store.record_raw(RawMessage("demo", "INBOX", 1, "999", b"Subject: x\r\n\r\nunreadable",
                                        datetime.now(timezone.utc)))
    finding = {"id": "processing_failed", "severity": "review", "message": "邮件无法在规定时间内读取，请人工查看。"}
    store.register.save_parsed(pk, {"outcome": "needs_review", "fields": "{}", "rules": json.dumps([finding])}, [])
    queue, _ = queries.review_queue(store.db)
    assert f"#{pk}" in [row["key"] for row in queue]
    page = client_as(app, "reviewer").get(f"/messages/{pk}").get_data(as_text=True)
    assert "邮件无法在规定时间内读取" in page


def test_list_pages_read_an_index_not_the_whole_table(site):
    _, store, _ = site
    for f in (queries.EntryFilter(), queries.EntryFilter(outcome="needs_review"), queries.EntryFilter(contest="photo"),
              queries.EntryFilter(contest="photo", outcome="needs_review")):
        clause, params = queries.where(f)
        plan = " ".join(row[3] for row in store.db.execute(
            f"EXPLAIN QUERY PLAN SELECT * FROM entry_list WHERE {clause} ORDER BY first_received DESC, key DESC "
            f"LIMIT 50", params))
        assert "USING INDEX" in plan and "TEMP B-TREE" not in plan, plan
        count = " ".join(row[3] for row in store.db.execute(
            f"EXPLAIN QUERY PLAN SELECT COUNT(*) FROM entry_list WHERE {clause}", params))
        assert "USING COVERING INDEX" in count or f == queries.EntryFilter(), (f, count)


def test_filters_search_and_unknown_ids(site):
    _, store, config = site
    rules = load_rules(config.rules_dir)
    page = queries.entry_page(store.db, queries.EntryFilter(q="晨光"))
    assert [row["title"] for row in page.rows] == ["晨光"]
    assert queries.entry_page(store.db, queries.EntryFilter(q="%")).total == 0  # LIKE wildcards are literal
    with pytest.raises(queries.QueryError, match="可选：.*bookhouse"):
        queries.EntryFilter(contest="fotos").validate(rules)
    with pytest.raises(queries.QueryError, match="field_missing"):
        queries.EntryFilter(rule="nope").validate(rules)
    assert queries.outcome_from_word("待审核") == "needs_review" == queries.outcome_from_word("needs_review")
    assert queries.outcome_from_word("未通过") == "rejected"


def test_staff_cli_speaks_chinese_and_shows_each_entry_once(site):
    _, store, config = site
    runner = CliRunner()
    args = ["--config", str(config.path)]
    receipt = next(e["receipt"] for e in store.register.entries() if e["contest"] == "photo")
    context = Context.from_config(config, load_rules(config.rules_dir))
    staff.correct_field(store, context, receipt, "title", "晨光里的炼钢工人 和他们的二十四小时（修订）")  # judged again
    listed = runner.invoke(cli, [*args, "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert listed.output.count(receipt) == 1 and "“好工人·向未来”摄影比赛" in listed.output
    assert "作者" in listed.output and "共 4 件" in listed.output
    narrow = runner.invoke(cli, [*args, "list"], env={"COLUMNS": "80"})
    lines = narrow.output.splitlines()
    assert len(lines) == 4 + 2 and all(line.rstrip().endswith(("已登记", "未通过", "待审核")) for line in lines[1:-1])
    review = runner.invoke(cli, [*args, "list", "--outcome", "待审核"])
    assert review.exit_code == 0 and "待审核" in review.output
    bad = runner.invoke(cli, [*args, "list", "--contest", "fotos"])
    assert bad.exit_code == 1 and "未知的比赛“fotos”，可选：" in bad.output and "photo（" in bad.output
    bad_rule = runner.invoke(cli, [*args, "requeue", "--rule", "nope"])
    assert bad_rule.exit_code == 1 and "未知的规则" in bad_rule.output
    shown = runner.invoke(cli, [*args, "show", receipt])
    assert shown.exit_code == 0 and "作品名称：晨光里的炼钢工人 和他们的二十四小时（修订）（已人工更正）" in shown.output, shown.output
    assert "更正字段 作品名称：“晨光” → “晨光里的炼钢工人 和他们的二十四小时（修订）”" in shown.output
    assert "收到时间：" in shown.output and "mailbox" not in shown.output and "received_at" not in shown.output
    both = runner.invoke(cli, [*args, "override", receipt, "--accept", "--reject", "--note", "x"])
    assert both.exit_code == 1 and "只能选一个" in both.output
    no_note = runner.invoke(cli, [*args, "override", receipt, "--accept"])
    assert no_note.exit_code == 1 and "--note" in no_note.output and "Missing" not in no_note.output
    done = runner.invoke(cli, [*args, "override", receipt, "--reject", "--note", "内部：重复投稿",
                               "--message", "请勿重复投稿"])
    assert done.exit_code == 0 and "→ 未通过" in done.output
    [raw] = [r[0] for r in store.db.execute("SELECT raw FROM outbox WHERE receipt=? AND outcome='rejected'", [receipt])]
    assert "内部：重复投稿".encode() not in bytes(raw)


def test_user_commands_ask_for_the_password_and_never_take_it_as_an_option(site):
    _, store, config = site
    runner = CliRunner()
    args = ["--config", str(config.path)]
    added = runner.invoke(cli, [*args, "user", "add", "newbie", "--role", "reviewer"],
                          input="newbie password 1\nnewbie password 1\n")
    assert added.exit_code == 0 and "已添加用户 newbie（审核员）" in added.output
    assert "newbie password 1" not in added.output
    assert accounts.authenticate(store.db, "newbie", "newbie password 1", "127.0.0.1").role == "reviewer"
    refused = runner.invoke(cli, [*args, "user", "add", "other", "--role", "viewer", "--password", "x"])
    assert refused.exit_code != 0
    listed = runner.invoke(cli, [*args, "user", "list"])
    assert "newbie\t审核员\t正常" in listed.output
    assert runner.invoke(cli, [*args, "user", "disable", "newbie"]).exit_code == 0
    assert not accounts.get_user(store.db, "newbie").active
    changed = runner.invoke(cli, [*args, "user", "passwd", "reviewer"], input="fresh password 22\nfresh password 22\n")
    assert changed.exit_code == 0
    assert accounts.authenticate(store.db, "reviewer", "fresh password 22", "127.0.0.1")
    assert json.dumps([u.name for u in accounts.users(store.db)])


@pytest.mark.parametrize("target", ["/%09/evil.example", "/%0a/evil.example", "/%0d/evil.example", "/%5C/evil.example",
                                    "/%5Cevil.example", "//evil.example", "https://evil.example/", "evil.example",
                                    "/%09%5Cevil.example", "javascript:alert(1)"])
def test_login_goes_back_only_to_a_local_path(site, target):
    app, _store, _config = site
    response = app.test_client().post(f"/login?next={target}", data={"name": "viewer", "password": PASSWORD})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location == "/", location


def test_login_still_goes_back_to_the_page_asked_for(site):
    app, _store, _config = site
    response = app.test_client().post("/login?next=/entries%3Fq%3D%E6%99%A8", data={"name": "viewer",
                                                                                "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/entries?q=%E6%99%A8"


def test_big_bodies_are_refused_before_reading_unless_a_signed_in_user_may_upload(site):
    import io
    app, store, _config = site
    from inbox_daemon.web import UPLOADS
    assert UPLOADS <= set(app.view_functions)  # a renamed upload view would silently get the small limit
    receipt = next(e["receipt"] for e in store.register.entries() if e["contest"] == "photo")
    big = b"x" * (2 << 20)
    viewer = client_as(app, "viewer")  # signed in, but not allowed to upload
    app.config["WTF_CSRF_ENABLED"] = True  # the CSRF check reads the form: the limit must come before it
    try:
        anonymous = app.test_client()
        assert anonymous.post("/login", data={"name": "admin", "password": big.decode()}).status_code == 413
        assert anonymous.post(f"/entries/{receipt}/upload", data={"work": (io.BytesIO(big), "a.jpg")},
                              content_type="multipart/form-data").status_code == 413
        small = anonymous.post("/login", data={"name": "admin", "password": "x"})
        assert small.status_code == 400  # read, then refused for want of a token
        refused = viewer.post(f"/entries/{receipt}/upload", data={"work": (io.BytesIO(big), "a.jpg")},
                              content_type="multipart/form-data")
        assert refused.status_code == 413 and "文件太大" in refused.data.decode()
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    reviewer = client_as(app, "reviewer")
    photo = media.make_jpeg(size=2_100_000, seed=9)
    done = reviewer.post(f"/entries/{receipt}/upload", data={"work": (io.BytesIO(photo), "新作.jpg")},
                         content_type="multipart/form-data")
    assert done.status_code == 302
    assert [r["filename"] for r in store.db.query("SELECT filename FROM uploads WHERE receipt=?", [receipt])] == ["新作.jpg"]


def test_the_login_name_is_at_most_forty_characters(site):
    app, store, _config = site
    client = app.test_client()
    assert 'maxlength="40"' in client.get("/login").data.decode()
    typed = "我的密码写进了用户名框" * 5  # 55 characters
    page = client.post("/login", data={"name": typed, "password": "whatever"})
    assert page.status_code == 200 and "用户名最多 40 个字符" in page.data.decode()
    assert not list(store.db.query("SELECT * FROM login_attempts WHERE name LIKE '我的密码%'"))


def test_the_list_s_links_keep_only_the_filter_s_own_keys(site):
    app, _store, _config = site
    client = client_as(app, "viewer")
    for query in ("endpoint=x&_external=1", "_external=1&_scheme=javascript&q=%0Aalert(1)//", "_anchor=x&q=晨",
                  "format=csv&contest=photo"):
        for headers in ({}, {"HX-Request": "true"}):
            page = client.get(f"/entries?{query}", headers=headers)
            assert page.status_code == 200, (query, page.status_code)
            links = re.findall(r'(?:href|hx-get)="([^"]*)"', page.data.decode())
            entry_links = [link for link in links if "/entries" in link]
            assert entry_links and all(link.startswith("/") and "://" not in link and "#" not in link
                                       and "_external" not in link for link in entry_links), (query, entry_links)
            if "q=" in query:  # the filter itself is kept
                assert any("q=" in link and "sort=" in link for link in entry_links)
