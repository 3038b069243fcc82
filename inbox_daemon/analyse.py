"""A stored message, read: parsed, its attachments stored by hash and probed, its forms loaded.

Everything here depends only on the bytes of the message (and the rules), never on the register,
so it can run in a separate process under a time limit (worker.py) and give the same result on a
first pass, a crash recovery and a requeue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from .blobs import BlobStore
from .classify import ignore_reason
from .forms import FormTable, is_form, load_form
from .parse import ParsedMail, entry_mail, parse_message
from .probe import Probe, probe_attachments
from .rules import RuleSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Analysis:
    parsed: ParsedMail
    probes: tuple[Probe, ...]
    forms: dict[str, FormTable] = field(default_factory=dict)  # by the form file's sha256
    ignored_because: str | None = None
    timed_out: tuple[str, ...] = ()  # names of attachments whose reading overran the time limit
    entry: ParsedMail | None = None  # the entry the message carries (a forward's original); None: the message

    @property
    def mail(self) -> ParsedMail:
        """What routing, fields and judging read: the entry, never the envelope of a forward."""
        return self.entry or self.parsed


TIMED_OUT = "读取超时，未能读取"


def _no_progress(step) -> None:
    return None


def forms_of(probes, path_of, skip: tuple[str, ...] = (), progress=_no_progress) -> dict[str, FormTable]:
    forms = {}
    for probe in probes:
        if is_form(probe.filename, probe.kind):  # a 报名表 inside a zip too: members are stored by hash
            if probe.sha256 in skip:
                forms[probe.sha256] = FormTable(problem=TIMED_OUT)
                continue
            progress(("probe", probe.sha256))
            forms[probe.sha256] = load_form(probe.filename, path_of(probe.sha256))
    return forms


def analyse(blobs: BlobStore, raw_sha256: str, rules: RuleSet, own_addresses: tuple[str, ...] = (), *,
            skip: tuple[str, ...] = (), progress=_no_progress) -> Analysis:
    """Parse the stored message, store its attachments, probe them and load its forms.

    The stored file is mapped, not read: a large attachment goes from it to its own file in pieces.
    `progress` hears of each step before it starts (worker.py cuts off one that overruns); the
    attachments in `skip` overran before and are recorded unread."""
    progress(("parse", raw_sha256))
    with blobs.mapped("raw", raw_sha256) as raw:
        parsed = parse_message(raw, spill=lambda pieces: blobs.put_chunks("att", pieces))
    for attachment in parsed.attachments:
        if not attachment.stored:
            blobs.put("att", attachment.data, attachment.sha256)
    ignored_because = ignore_reason(parsed, rules, own_addresses)
    entry = entry_mail(parsed, own_addresses)  # no body decoration, no message/rfc822 container
    path_of = lambda sha: blobs.path("att", sha)  # noqa: E731
    put = lambda chunks: blobs.put_chunks("att", chunks)  # noqa: E731  (archive members, by hash)
    timed_out: list[str] = []
    if ignored_because:  # not a submission: nothing to probe
        probes = [Probe(a.filename, a.sha256, a.size, a.kind, a.mime) for a in parsed.attachments]
        forms = {}
    else:
        probes = []
        for attachment in entry.attachments:
            if attachment.sha256 in skip:
                probes.append(Probe(attachment.filename, attachment.sha256, attachment.size, attachment.kind,
                                    attachment.mime, readable=False, note=TIMED_OUT))
                timed_out.append(attachment.filename)
                continue
            progress(("probe", attachment.sha256))
            probes += probe_attachments([attachment], path_of, put=put)
        forms = forms_of(probes, path_of, skip, progress)
        timed_out += [p.filename for p in probes if forms.get(p.sha256, FormTable()).problem == TIMED_OUT
                      and p.filename not in timed_out]
    # The bytes are on disk now: what travels on (maybe to another process) is the description.
    parsed, entry = (replace(m, attachments=tuple(replace(a, data=b"", stored=True) for a in m.attachments))
                     for m in (parsed, entry))
    return Analysis(parsed, tuple(probes), forms, ignored_because, tuple(timed_out), entry)
