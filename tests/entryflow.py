"""One message through the daemon's own reading and deciding code, without a register: for pure tests.

`analyse` (parse, the entry a forward carries, probes of its files, forms) then `decide_entry` with an
empty history, exactly as `pipeline.process` runs them for a message that continues no earlier entry;
then the reply decision (never a reply to ignored mail, to what is not a submission, or to a question).
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from conftest import RULES

from inbox_daemon.analyse import analyse
from inbox_daemon.blobs import BlobStore
from inbox_daemon.decide import History, decide_entry
from inbox_daemon.parse import ParsedMail
from inbox_daemon.reply import CJK
from inbox_daemon.reply import decide as reply_decision
from inbox_daemon.rules import load_rules

RULESET = load_rules(RULES)
IN_WINDOW = datetime.fromisoformat("2022-08-20T10:00:00+08:00")
COMMITTEE_CONTESTS = ("micro_video", "reading_promoter", "reading_team")
BLOBS = BlobStore(Path(tempfile.mkdtemp(prefix="entryflow-")))


@dataclass
class Decided:
    mail: ParsedMail
    ignored: str | None = None
    not_a_submission: bool = False
    contest: str | None = None
    fields: dict | None = None
    rule_ids: list = field(default_factory=list)
    outcome: str | None = None
    entry: ParsedMail | None = None
    probes: list | None = None
    links: list | None = None

    @property
    def answered(self) -> bool:
        """Would the first reply go out?"""
        mail = self.mail
        words = " ".join([mail.subject, mail.text, mail.sender_name, *(a.filename for a in mail.attachments)])
        return reply_decision(outcome=self.outcome, rule_ids=self.rule_ids, sender=mail.sender, reply_to=mail.reply_to,
                              own_addresses=(), previous_outcome=None, sent_today=0, limit_notice_today=False,
                              daily_limit=10**6, has_chinese=bool(CJK.search(words))).kind is not None


def decide(raw: bytes, allowed=COMMITTEE_CONTESTS, received: datetime = IN_WINDOW, rules=RULESET) -> Decided:
    sha256, _ = BLOBS.put_chunks("raw", (raw,))
    assert sha256 == hashlib.sha256(raw).hexdigest()
    analysis = analyse(BLOBS, sha256, rules)
    decision = decide_entry(analysis, History(received_at=received), rules, tuple(allowed))
    rule_ids = [f.id for f in decision.findings]
    return Decided(analysis.parsed, ignored=analysis.ignored_because, not_a_submission="not_a_submission" in rule_ids,
                   contest=decision.contest, fields=decision.fields, rule_ids=rule_ids, outcome=decision.outcome,
                   entry=analysis.mail, probes=list(decision.probes), links=list(decision.links))
