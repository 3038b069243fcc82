"""The pure decision over plain data: what a message means for its entry, given the entry's history and
what staff decided, without a register (pipeline.py loads the same History from one)."""

from __future__ import annotations

from datetime import datetime

from entryflow import BLOBS, RULESET
from mailshapes import qq

from inbox_daemon.analyse import analyse
from inbox_daemon.decide import EarlierEntry, History, StaffInput, decide_entry
from inbox_daemon.demo.samples import compose

COMMITTEE = ("micro_video", "reading_promoter", "reading_team")
IN_TIME = datetime.fromisoformat("2022-09-20T10:00:00+08:00")
AFTER = datetime.fromisoformat("2022-10-05T10:00:00+08:00")
FIELDS = {"title": "炉火", "author": "刘建军", "gender": "男", "unit": "涟钢炼钢厂",
          "bio": "本人是涟钢炼钢厂转炉工段的一名炉前工，从业十五年，曾获“娄底市技术能手”称号。作品用三分钟记录了一个夜班的出钢过程，"
                 "展现了钢铁工人守护炉火、精益求精的工匠精神，也记录了班组师徒之间的传承与协作，以及一代代炉前工的坚守。"}


def read(raw: bytes):
    sha256, _ = BLOBS.put_chunks("raw", (raw,))
    return analyse(BLOBS, sha256, RULESET)


def earlier(**values) -> EarlierEntry:
    return EarlierEntry(**{"receipt": "WSP-2022-0007", "contest": "micro_video", "outcome": "rejected",
                           "sender": "liujj@qq.com", "fields": FIELDS, **values})


def answer(lines: list[str]):
    return read(qq(sender="liujj@qq.com", name="刘建军", subject="回复：【需修改】回执号 WSP-2022-0007", lines=lines))


def test_a_correction_after_the_deadline_is_judged_on_the_first_submission():
    history = History(received_at=AFTER, earlier=earlier(), relation="correction",
                      first_received={"WSP-2022-0007": IN_TIME})
    decision = decide_entry(answer(["联系电话：13973851111"]), history, RULESET, COMMITTEE)
    assert (decision.receipt, decision.contest) == ("WSP-2022-0007", "micro_video")
    assert decision.fields["phone"] == "13973851111" and decision.fields["title"] == "炉火"  # merged into the entry
    assert "late" not in [f.id for f in decision.findings]
    late = decide_entry(answer(["联系电话：13973851111"]), History(received_at=AFTER, earlier=earlier(),
                                                                   relation="correction"), RULESET, COMMITTEE)
    assert "late" in [f.id for f in late.findings]  # the same message judged on its own arrival would be late


def test_answers_that_change_nothing_are_notes_on_the_entry():
    history = History(received_at=AFTER, earlier=earlier(outcome="accepted"), relation="correction")
    thanks = decide_entry(answer(["收到，谢谢！"]), history, RULESET, COMMITTEE)
    assert (thanks.outcome, thanks.receipt, thanks.receipt_prefix, thanks.duplicate_of) == (
        "ignored", None, None, "WSP-2022-0007")
    question = decide_entry(answer(["请问什么时候公布结果？"]), history, RULESET, COMMITTEE)
    assert question.outcome == "needs_review" and [f.id for f in question.findings] == ["reply_question"]
    assert question.receipt is None and question.duplicate_of == "WSP-2022-0007"
    withdrawal = decide_entry(answer(["本人申请撤回作品，不再参赛。"]), history, RULESET, COMMITTEE)
    assert withdrawal.receipt == "WSP-2022-0007" and withdrawal.outcome == "needs_review"
    assert "withdrawal_request" in [f.id for f in withdrawal.findings]


def test_staff_decisions_outlive_the_judging():
    unrouted = read(compose(sender="h@sina.com", subject="投稿", body="作品名称：我的故事\n请问投哪个比赛？"))
    plain = decide_entry(unrouted, History(received_at=IN_TIME), RULESET, COMMITTEE)
    assert plain.contest is None and [f.id for f in plain.findings] == ["contest_unknown"]
    everywhere = decide_entry(unrouted, History(received_at=IN_TIME), RULESET, tuple(RULESET.contests))
    asked = everywhere.findings[0].message  # each name quoted once; one with its own quotes kept as it is
    assert "“微视频比赛”、" in asked and "摄影比赛" in asked and "““" not in asked and "”摄影比赛”" not in asked
    assert plain.receipt is None and plain.receipt_prefix == "DQR"
    chosen = History(received_at=IN_TIME, receipt="DQR-2022-0001",
                     staff={"DQR-2022-0001": StaffInput(contest="micro_video", fields={"author": "何军"})})
    judged = decide_entry(unrouted, chosen, RULESET, COMMITTEE)
    assert judged.contest == "micro_video" and judged.receipt == "DQR-2022-0001"  # the receipt stays
    assert judged.fields["author"] == "何军" and judged.outcome == "rejected"
    overridden = History(received_at=IN_TIME, receipt="DQR-2022-0001",
                         staff={"DQR-2022-0001": StaffInput(outcome="accepted", contest="micro_video")})
    assert decide_entry(unrouted, overridden, RULESET, COMMITTEE).outcome == "accepted"


def test_the_same_work_from_someone_else_is_reviewed():
    video = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(4000)
    mail = read(compose(sender="other@qq.com", subject="微视频比赛《炉火》", body="作品名称：炉火",
                        attachments=[("炉火.mp4", video, "video/mp4")]))
    history = History(received_at=IN_TIME, earlier=earlier(outcome="accepted"), relation="same_work")
    decision = decide_entry(mail, history, RULESET, COMMITTEE)
    assert decision.duplicate_of == "WSP-2022-0007" and "duplicate_other_sender" in [f.id for f in decision.findings]
    resent = read(compose(sender="liujj@qq.com", subject="微视频比赛《炉火》", body="作品名称：炉火",
                          attachments=[("炉火.mp4", video, "video/mp4")]))
    again = decide_entry(resent, history, RULESET, COMMITTEE)
    assert [f.id for f in again.findings] == ["duplicate_resubmission"] and again.receipt == "WSP-2022-0007"
