"""The console in a real headless Chromium over a register filled by a real pass over the demo mail."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

from browser import XSS_TITLE, make_driver, wait_for
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from inbox_daemon.demo import media

DOCS = Path(__file__).resolve().parents[1] / "docs" / "console"
NOTE = "已与作者核对原片，确认未经合成"
MESSAGE = "您的照片已通过人工审核，感谢参与！"

POST_JS = """
const [url, fields, withToken, done] = arguments;
const body = new FormData();
for (const [k, v] of Object.entries(fields)) body.append(k, v);
if (withToken) body.append('csrf_token', document.querySelector('#logout-form input[name=csrf_token]').value);
fetch(url, {method: 'POST', body, credentials: 'same-origin', redirect: 'manual'})
  .then(r => done(r.status || 'redirect'), e => done(String(e)));
"""


def entry_row(console, receipt: str) -> dict:
    return console.store.register.entry(receipt)


def receipt_of(console, *, rule: str | None = None, contest: str | None = "", outcome: str | None = None) -> str:
    """The receipt of the demo entry with these traits (the demo set's order is not the test's business)."""
    for entry in console.store.register.entries():
        rule_ids = [f["id"] for f in json.loads(entry["rules"] or "[]")]
        if (rule is None or rule in rule_ids) and (contest == "" or entry["contest"] == contest) \
                and (outcome is None or entry["outcome"] == outcome):
            return entry["receipt"]
    raise AssertionError(f"no demo entry with rule={rule} contest={contest} outcome={outcome}")


def reply_text(raw: bytes) -> str:
    message = email.message_from_bytes(bytes(raw), policy=email.policy.default)
    return message.get_body(preferencelist=("plain",)).get_content()


def test_review_a_photo_and_accept_with_a_note_and_a_message(console, browser):
    browser.get(console.url + "/entries")
    assert "/login" in browser.current_url
    console.login(browser, "reviewer", "not the password", refused=True)  # wrong first: refused, stays on the login page
    assert "用户名或密码不正确" in browser.page_source
    assert console.seen("POST", "/login", 401)
    console.login(browser, "reviewer")

    browser.get(console.url + "/entries")
    everything = int(browser.find_element(By.ID, "total").text)
    Select(browser.find_element(By.NAME, "outcome")).select_by_value("needs_review")
    wait_for(lambda: int(browser.find_element(By.ID, "total").text) < everything, what="the filtered list")
    assert "outcome=needs_review" in browser.current_url  # htmx pushed the filter into the address
    badges = [b.text for b in browser.find_elements(By.CSS_SELECTOR, "#results .badge")]
    assert badges and set(badges) == {"待审核"}
    assert int(browser.find_element(By.ID, "total").text) == len(badges) == 3

    edited = receipt_of(console, rule="photo_edited")
    browser.find_element(By.LINK_TEXT, edited).click()
    wait_for(lambda: f"/entries/{edited}" in browser.current_url, what="the entry page")
    assert "修图软件" in browser.find_element(By.CSS_SELECTOR, ".findings").text
    thumb = browser.find_element(By.CSS_SELECTOR, "img.thumb")
    wait_for(lambda: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", thumb),
             what="the thumbnail to load")
    assert browser.execute_script("return arguments[0].naturalWidth", thumb) > 0
    assert "相机：Canon EOS 80D" in browser.page_source and "软件：Adobe Photoshop 23.0" in browser.page_source

    browser.find_element(By.ID, "decision-accept").click()
    browser.find_element(By.ID, "note").send_keys(NOTE)
    browser.find_element(By.ID, "message").send_keys(MESSAGE)
    browser.find_element(By.ID, "decide-submit").click()
    wait_for(lambda: browser.find_element(By.ID, "outcome").text == "已登记", what="the new outcome")
    assert "已记录决定：待审核 → 已登记" in browser.page_source

    entry = entry_row(console, edited)
    assert entry["outcome"] == "accepted"
    override = console.store.register.override_for(edited)
    assert (override["note"], override["message"], override["actor"]) == (NOTE, MESSAGE, "reviewer")
    [raw] = [row[0] for row in console.store.db.execute(
        "SELECT raw FROM outbox WHERE message=? AND outcome='accepted' AND status='queued'", [entry["id"]])]
    text = reply_text(raw)
    assert MESSAGE in text and NOTE not in text and NOTE.encode() not in bytes(raw)
    assert edited in text


def test_the_video_plays_and_seeks_with_http_ranges(console, browser):
    console.login(browser, "viewer")
    browser.get(console.url + f"/entries/{receipt_of(console, contest='micro_video', outcome='accepted')}")
    video = browser.find_element(By.TAG_NAME, "video")
    browser.execute_script("arguments[0].currentTime = 120; arguments[0].play().catch(() => {});", video)
    wait_for(lambda: browser.execute_script("return arguments[0].readyState", video) >= 2, what="video data")
    wait_for(lambda: browser.execute_script("return arguments[0].currentTime", video) >= 119, what="the seek")
    assert browser.execute_script("return arguments[0].duration", video) > 160
    assert console.seen("GET", "/files/", 206), console.requests


def test_a_viewer_sees_no_actions_and_a_forged_post_is_refused(console, browser):
    console.login(browser, "viewer")
    edited = receipt_of(console, rule="photo_edited")
    browser.get(console.url + f"/entries/{edited}")
    assert browser.find_elements(By.ID, "decide-submit") == []
    assert browser.find_elements(By.ID, "requeue-submit") == []
    assert browser.find_elements(By.ID, "upload-submit") == []
    assert browser.find_elements(By.CSS_SELECTOR, "input[name=keys]") == []
    posts = browser.find_elements(By.CSS_SELECTOR, "form[method=post]")
    assert [f.get_attribute("id") for f in posts] == ["logout-form"]
    status = browser.execute_async_script(POST_JS, f"/entries/{edited}/decide",
                                          {"decision": "accept", "note": "forged"}, True)
    assert status == 403
    assert console.seen("POST", f"/entries/{edited}/decide", 403)
    assert entry_row(console, edited)["outcome"] == "needs_review"
    assert console.store.register.override_for(edited) is None
    browser.get(console.url + "/admin/users")
    assert "没有权限" in browser.page_source


def test_a_post_without_the_csrf_token_is_refused(console, browser):
    console.login(browser, "reviewer")
    edited = receipt_of(console, rule="photo_edited")
    browser.get(console.url + f"/entries/{edited}")
    status = browser.execute_async_script(POST_JS, f"/entries/{edited}/decide",
                                          {"decision": "accept", "note": "no token"}, False)
    assert status == 400
    assert entry_row(console, edited)["outcome"] == "needs_review"
    # The same request with the page's token goes through: the refusal was the token's doing.
    status = browser.execute_async_script(POST_JS, f"/entries/{edited}/decide",
                                          {"decision": "accept", "note": "with token"}, True)
    assert status == "redirect" or status in (0, 302)
    wait_for(lambda: entry_row(console, edited)["outcome"] == "accepted", what="the decision")


def test_hostile_subject_and_fields_stay_text(console, browser):
    console.login(browser, "reviewer")
    browser.get(console.url + "/entries?q=xss%40example.com")
    link = browser.find_element(By.CSS_SELECTOR, "#results a.receipt")
    assert XSS_TITLE in browser.find_element(By.CSS_SELECTOR, "#results tbody").text
    link.click()
    wait_for(lambda: "/entries/" in browser.current_url and "?" not in browser.current_url, what="the entry")
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "<script>document.title=\"pwned\"</script>" in page  # the subject, as text
    assert XSS_TITLE in page and "<script>alert(1)</script>" in page
    assert "pwned" not in browser.title
    assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"], main script').length") == 0
    assert browser.execute_script("return document.scripts.length") == 2  # htmx and console.js, nothing else


def test_choosing_the_contest_of_an_unrouted_entry_judges_it(console, browser):
    unrouted = receipt_of(console, contest=None)
    console.login(browser, "reviewer")
    browser.get(console.url + f"/entries/{unrouted}")
    Select(browser.find_element(By.ID, "contest-select")).select_by_value("micro_video")
    browser.find_element(By.ID, "contest-submit").click()
    wait_for(lambda: "已指定比赛并重新判定" in browser.page_source, what="the re-judged entry")
    entry = entry_row(console, unrouted)
    assert entry["contest"] == "micro_video"
    assert "contest_unknown" not in entry["rules"] and "attachment_missing" in entry["rules"]
    assert entry["outcome"] == "rejected"
    actions = [(e["actor"], e["action"]) for e in console.store.db.query(
        "SELECT actor, action FROM events WHERE message=? ORDER BY id", [entry["id"]])]
    assert ("reviewer", "set_contest") in actions and ("reviewer", "judged") in actions
    assert "微视频比赛" in browser.find_element(By.CSS_SELECTOR, ".entryhead").text


def test_uploading_the_video_of_a_cloud_link_entry_probes_and_judges_it(console, browser, tmp_path):
    linked = receipt_of(console, rule="large_attachment_link")
    before = entry_row(console, linked)
    assert before["outcome"] == "needs_review" and "large_attachment_link" in before["rules"]
    clip = tmp_path / "守护万家灯火.mp4"
    clip.write_bytes(media.make_video(170, 1280, 720))
    console.login(browser, "reviewer")
    browser.get(console.url + f"/entries/{linked}")
    browser.find_element(By.ID, "work-file").send_keys(str(clip))
    browser.find_element(By.ID, "upload-submit").click()
    wait_for(lambda: "作品已上传并重新判定" in browser.page_source, what="the upload")
    [upload] = console.store.db.query("SELECT * FROM uploads WHERE receipt=?", [linked])
    assert (upload["kind"], upload["filename"], upload["actor"]) == ("video", "守护万家灯火.mp4", "reviewer")
    assert 169 <= upload["duration_s"] <= 171 and (upload["width"], upload["height"]) == (1280, 720)
    after = entry_row(console, linked)
    assert after["outcome"] == "accepted" and "large_attachment_link" not in after["rules"]
    assert browser.find_elements(By.TAG_NAME, "video")  # the uploaded work plays on the entry page


def test_review_queue_keyboard_and_decide_then_next(console, browser):
    console.login(browser, "reviewer")
    browser.get(console.url + "/review")
    rows = browser.find_elements(By.CSS_SELECTOR, "table a.receipt")
    order = [r.text for r in rows]
    assert len(order) == 3
    browser.find_element(By.TAG_NAME, "body").send_keys("j")
    wait_for(lambda: f"/entries/{order[0]}" in browser.current_url, what="the first queued entry")
    browser.find_element(By.TAG_NAME, "body").send_keys("r")
    assert browser.find_element(By.ID, "decision-reject").is_selected()
    assert browser.switch_to.active_element.get_attribute("id") == "note"
    browser.switch_to.active_element.send_keys("询问邮件，不是作品")
    browser.find_element(By.ID, "decide-next").click()
    wait_for(lambda: f"/entries/{order[1]}" in browser.current_url, what="the next queued entry")
    assert entry_row(console, order[0])["outcome"] == "rejected"
    browser.find_element(By.TAG_NAME, "body").send_keys("?")
    assert browser.execute_script("return document.getElementById('shortcuts').open")


def test_screenshots_at_office_and_phone_widths(console):
    DOCS.mkdir(parents=True, exist_ok=True)
    pages = {"dashboard": "/overview", "list": "/entries", "entry": f"/entries/{receipt_of(console, rule='photo_edited')}",
             "review": "/review"}
    for width in (1280, 390):
        driver = make_driver(width, 900)
        try:
            console.login(driver, "reviewer")
            for name, path in pages.items():
                driver.get(console.url + path)
                if name == "entry":
                    wait_for(lambda d=driver: d.execute_script(
                        "return document.querySelector('img.thumb').naturalWidth"), what="thumbnail")
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(width, min(max(height + 140, 700), 4000))
                overflow = driver.execute_script(
                    "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert overflow <= 1, f"{name} at {width}px scrolls sideways by {overflow}px"
                path_png = DOCS / f"{name}-{width}.png"
                driver.save_screenshot(str(path_png))
                assert path_png.stat().st_size > 10_000
                driver.set_window_size(width, 900)
        finally:
            driver.quit()


def test_export_of_the_filtered_view(console, browser):
    console.login(browser, "admin")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    import urllib.request
    from io import BytesIO

    from openpyxl import load_workbook
    request = urllib.request.Request(console.url + "/entries/export?format=xlsx&contest=photo",
                                     headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
    with urllib.request.urlopen(request) as response:
        assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
        sheet = load_workbook(BytesIO(response.read())).active
    rows = list(sheet.values)
    assert rows[0][:4] == ("序号", "回执号", "比赛", "作品名称")
    receipts = [row[1] for row in rows[1:]]
    assert receipts and all(r.startswith("SY-") for r in receipts)
    hostile = next(row for row in rows[1:] if row[3] and row[3].startswith('"><img'))
    assert json.dumps(hostile[3])  # text, not a formula
