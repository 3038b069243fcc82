"""Winner notices: an email to each winner of a published list, through the outbox like every reply.

Nothing is queued until staff press send (`queue`); each winner gets one notice, however often it is
pressed. The mail is rendered by the replies' own code (headers, threading under the entry's first
mail, loop guards) from the templates `award_subject.txt`, `award_body.txt` and `award_body.html`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.policy import SMTP as SMTP_POLICY

from jinja2 import ChoiceLoader, Environment, FunctionLoader

from ..reply import environment, render, reply_target
from ..store import Store, now_iso
from . import AwardsError
from .config import Common, ContestAwards
from .jury import is_published, log
from .results import winners

KIND = "award"


@dataclass(frozen=True)
class NoticeSummary:
    queued: tuple[str, ...]
    already: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]  # (receipt, why no notice can be sent)


def queued(store: Store, contest: str) -> dict[str, str]:
    """receipt -> the outbox status of its winner notice, for the contest's awarded entries."""
    return dict(store.db.execute(
        "SELECT o.receipt, o.status FROM outbox o JOIN award_results r ON r.receipt = o.receipt "
        "WHERE r.contest=? AND o.kind=?", [contest, KIND]).fetchall())


def notice_environment(base: Environment | None = None) -> Environment:
    """The replies' environment, with the award templates standing in for subject, text and HTML."""
    base = base or environment()

    def award_template(name: str):
        if name in ("subject.txt", "body.txt", "body.html"):
            return base.loader.get_source(base, f"award_{name}")
        return None

    return base.overlay(loader=ChoiceLoader([FunctionLoader(award_template), base.loader]))


def queue(store: Store, rules: ContestAwards, common: Common, *, from_addr: str, actor: str, env: Environment | None = None,
          own_addresses: tuple[str, ...] = ()) -> NoticeSummary:
    """Queue a notice for every winner of the published list who has none yet."""
    if not is_published(store, rules.contest):
        raise AwardsError("获奖名单公布后才能发送获奖通知")
    env = notice_environment(env)
    queued, already, skipped = [], [], []
    own = {a.lower() for a in (*own_addresses, from_addr)}
    for winner in winners(store, rules):
        with store.write():
            if store.db.execute("SELECT 1 FROM outbox WHERE receipt=? AND kind=?", [winner.receipt, KIND]).fetchone():
                already.append(winner.receipt)
                continue
            entry = store.register.entry(winner.receipt)
            to = reply_target(entry["sender"] or "", entry["reply_to"] or "")
            if to is None or to in own:
                skipped.append((winner.receipt, "没有可用的邮箱地址"))
                continue
            name = (entry["sender_name"] or "").strip()
            data = {"kind": KIND, "receipt": winner.receipt, "winner": winner.name, "work": winner.work,
                    "prize": winner.prize, "contest": rules.title, "signature": common.notice_signature,
                    "greeting": f"{winner.name or name}，您好" if (winner.name or name) else "您好"}
            email = render(env, data, from_addr=from_addr, to=to, in_reply_to=entry["message_id"] or "",
                           references=entry["references_"] or "", now=datetime.now().astimezone())
            store.outbox.enqueue({"message": entry["id"], "receipt": winner.receipt, "kind": KIND,
                                  "outcome": entry["outcome"], "to_addr": to, "subject": str(email["Subject"]),
                                  "message_id": str(email["Message-ID"]), "raw": email.as_bytes(policy=SMTP_POLICY),
                                  "status": "queued", "next_attempt_at": now_iso()})
            log(store, actor, "notice_queued", {"contest": rules.contest, "receipt": winner.receipt, "to": to,
                                                "prize": winner.prize}, winner.receipt)
            queued.append(winner.receipt)
    return NoticeSummary(tuple(queued), tuple(already), tuple(skipped))
