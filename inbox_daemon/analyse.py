"""A stored message, read: parsed, its attachments stored by hash and probed, its forms loaded.

Everything here depends only on the bytes of the message (and the rules), never on the register,
so it can run in a separate process under a time limit (worker.py) and give the same result on a
first pass, a crash recovery and a requeue.
"""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from .blobs import BlobStore
from .classify import ignore_reason
from .forms import docx_rows, is_form, xlsx_rows
from .parse import ParsedMail, parse_message
from .probe import Probe, probe_attachments
from .rules import RuleSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FormTable:
    """The cells of an attached form, before anyone knows which contest's labels to look for."""

    rows: tuple[tuple[str, ...], ...] = ()
    problem: str | None = None  # why it could not be read (it still counts as a form)


@dataclass(frozen=True)
class Analysis:
    parsed: ParsedMail
    probes: tuple[Probe, ...]
    forms: dict[str, FormTable] = field(default_factory=dict)  # by the form file's sha256
    ignored_because: str | None = None


def load_form(filename: str, path: Path) -> FormTable:
    """The rows of a .xlsx/.docx form; other formats count as present but are not read."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
        data = path.read_bytes() if head[:2] == b"PK" else b""
        if extension == "xlsx" or (extension != "docx" and data and b"xl/" in head):
            return FormTable(tuple(map(tuple, xlsx_rows(data))))
        if extension == "docx" or (data and b"word/" in head):
            return FormTable(tuple(map(tuple, docx_rows(data))))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as err:
        log.info("form %r unreadable: %s", filename, err)
        return FormTable(problem=f"表格无法读取：{type(err).__name__}")
    return FormTable()


def forms_of(probes, path_of) -> dict[str, FormTable]:
    return {p.sha256: load_form(p.filename, path_of(p.sha256)) for p in probes
            if is_form(p.filename, p.kind) and not p.inside}


def analyse(blobs: BlobStore, raw_sha256: str, rules: RuleSet, own_addresses: tuple[str, ...] = ()) -> Analysis:
    """Parse the stored message, store its attachments, probe them and load its forms.

    The stored file is mapped, not read: a large attachment goes from it to its own file in pieces."""
    with blobs.mapped("raw", raw_sha256) as raw:
        parsed = parse_message(raw, spill=lambda pieces: blobs.put_chunks("att", pieces))
    for attachment in parsed.attachments:
        if not attachment.stored:
            blobs.put("att", attachment.data, attachment.sha256)
    ignored_because = ignore_reason(parsed, rules, own_addresses)
    path_of = lambda sha: blobs.path("att", sha)  # noqa: E731
    if ignored_because:  # not a submission: nothing to probe
        probes = [Probe(a.filename, a.sha256, a.size, a.kind, a.mime) for a in parsed.attachments]
        forms = {}
    else:
        probes = probe_attachments(parsed.attachments, path_of)
        forms = forms_of(probes, path_of)
    # The bytes are on disk now: what travels on (maybe to another process) is the description.
    parsed = replace(parsed, attachments=tuple(replace(a, data=b"", stored=True) for a in parsed.attachments))
    return Analysis(parsed, tuple(probes), forms, ignored_because)
