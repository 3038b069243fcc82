"""The pure reply decision: who is answered, with what kind, and who never is."""

from __future__ import annotations

import pytest

from inbox_daemon.reply import decide, reply_target, valid_address

BASE = dict(outcome="accepted", rule_ids=[], sender="worker@qq.com", reply_to="", own_addresses=("robot@x.org",),
            previous_outcome=None, sent_today=0, limit_notice_today=False, daily_limit=5)


@pytest.mark.parametrize("changes,kind,reason", [
    ({}, "accepted", ""),
    ({"outcome": "ignored"}, None, "no reply to ignored mail"),
    ({"sender": "robot@x.org"}, None, "our own address"),
    ({"sender": "noreply@163.com"}, None, "automated sender"),
    ({"sender": "MAILER-DAEMON@qq.com"}, None, "automated sender"),
    ({"sender": "not an address"}, None, "no valid From/Reply-To address"),
    ({"reply_to": "real@163.com"}, "accepted", ""),
    ({"previous_outcome": "accepted"}, None, "already answered; outcome unchanged"),
    ({"previous_outcome": "rejected"}, "change", ""),
    ({"unchanged_correction": True}, None, "correction changed nothing"),
    ({"rule_ids": ["duplicate_resubmission"]}, "duplicate", ""),
    ({"outcome": "needs_review", "rule_ids": ["contest_unknown"]}, "contest_unknown", ""),
    ({"sent_today": 5}, "limit", ""),
    ({"sent_today": 5, "limit_notice_today": True}, None, "daily limit of 5 replies reached"),
    ({"has_chinese": False}, None, "no Chinese text: not answered automatically"),
])
def test_decide(changes, kind, reason):
    decision = decide(**{**BASE, **changes})
    assert (decision.kind, decision.reason) == (kind, reason)


def test_reply_goes_to_a_valid_reply_to_else_from():
    assert reply_target("worker@qq.com", "Team <team@163.com>") == "team@163.com"
    assert reply_target("worker@qq.com", "broken@") == "worker@qq.com"
    assert reply_target("", "") is None
    assert not valid_address("a@localhost") and valid_address("a.b+c@mail.qq.com")
