"""What a juror may see of an entry: the work, never who made it.

The entry's name, team, unit, phone, sender and receipt are left out, and wherever the author's
name or unit appears in the title, the bio or a file name it is masked; phone numbers and email
addresses in any text are masked too. The juror knows the entry by a neutral number.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

MASK = "＊＊"
PHONE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d){8}(?!\d)|(?<!\d)0\d{2,3}[\s-]?\d{7,8}(?!\d)")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
RECEIPT = re.compile(r"\b[A-Z]{2,4}-\d{4}-\d{3,}\b")
IDENTITY_FIELDS = ("author", "team", "unit", "leader", "manager", "reporter", "contact", "phone", "app_account")
SHOWN_FIELDS = ("title", "bio", "description", "track", "shot_time", "shot_place", "members", "founded")
MIN_PART = 2  # unit parts shorter than this are ordinary words, not identifying


@dataclass(frozen=True)
class BlindFile:
    sha256: str
    kind: str
    name: str  # masked
    duration_s: float | None
    width: int | None
    height: int | None
    mime: str = ""  # the type we probed, never the sender's


@dataclass(frozen=True)
class BlindEntry:
    number: int
    fields: dict[str, str]  # masked, only the fields a juror may read
    files: tuple[BlindFile, ...]


def secrets_of(fields: dict, sender: str = "", sender_name: str = "", receipt: str = "") -> list[str]:
    """Every string that would identify the entrant, longest first (so a unit is masked before its parts)."""
    found = set()
    for key in IDENTITY_FIELDS:
        value = str(fields.get(key) or "").strip()
        if not value:
            continue
        found.add(value)
        # "娄底市图书馆 馆员", "李建国 工会主席 138…": each part on its own identifies too.
        found.update(p for p in re.split(r"[\s,，、;；/|（）()]+", value) if len(p) >= MIN_PART)
    for value in (sender, sender_name, receipt, sender.partition("@")[0]):
        if value and len(value.strip()) >= MIN_PART:
            found.add(value.strip())
    return sorted(found, key=len, reverse=True)


def mask(text: str, secrets: list[str]) -> str:
    text = EMAIL.sub(MASK, PHONE.sub(MASK, str(text or "")))
    text = RECEIPT.sub(MASK, text)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def blind_entry(number: int, entry: dict, attachments: list[dict]) -> BlindEntry:
    """The juror's view of one entry (`entry` a register row, `attachments` its files)."""
    fields = json.loads(entry.get("fields") or "{}")
    secrets = secrets_of(fields, entry.get("sender") or "", entry.get("sender_name") or "", entry.get("receipt") or "")
    shown = {key: mask(str(fields[key]), secrets) for key in SHOWN_FIELDS if fields.get(key) not in (None, "")}
    files = tuple(BlindFile(a["sha256"], a["kind"] or "", mask(a["filename"] or "", secrets) or f"文件{i + 1}",
                            a.get("duration_s"), a.get("width"), a.get("height"), a.get("mime") or "")
                  for i, a in enumerate(attachments) if a.get("kind") in ("video", "image"))
    return BlindEntry(number, shown, files)
