"""What a juror's pages read: the contests assigned, their accepted entries by neutral number and
blind, the juror's own scores, conflicts and progress, and the files a juror may fetch.

A juror fetches only the photos and videos of accepted entries of the contests assigned, never a
form, and never the stored original: a file can name its author inside (EXIF Artist, XMP creator,
a video's title or author tag), so a juror gets a copy without any metadata — a photo re-encoded
by Pillow, a video remuxed by ffmpeg with its streams untouched (`-c copy`). The copies are kept
beside the stored files, under their original's hash, and made once.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from ..store import Store
from . import jury
from .blind import BlindEntry, BlindFile, blind_entry
from .config import AwardsRules
from .scoring import Progress, Score

log = logging.getLogger(__name__)
MEDIA = ("image", "video")
SUFFIX = {"image/png": ".png", "video/quicktime": ".mov", "video/webm": ".webm"}
# Where juror copies are kept. Renamed whenever a copy made before would still hold something it must not
# (copies under "jury/" kept the JPEG/GIF comment), so those are made again; the old folder can be deleted.
COPIES = "jury-2"


@dataclass(frozen=True)
class Desk:
    """One assigned contest as the juror's overview shows it."""

    contest: str
    title: str
    state: str  # none | open | closed | published
    round_name: str
    progress: Progress | None


def desks(store: Store, awards: AwardsRules, juror: str) -> list[Desk]:
    found = []
    for contest in jury.contests_of(store, juror):
        if contest not in awards.contests:
            continue
        now, round_ = jury.judging_state(store, contest)
        mine = next((p for p in jury.juror_progress(store, contest) if p.juror == juror), None)
        found.append(Desk(contest, awards.contests[contest].title, now, round_["name"] if round_ else "", mine))
    return found


def _media(store: Store, entry: dict) -> list[dict]:
    """The entry's files as its page shows them: the current mail's attachments, then staff uploads."""
    files = store.register.attachments(entry["id"])
    return files + store.register.staff_rows(entry["receipt"])["uploads"]


def entries(store: Store, contest: str) -> list[BlindEntry]:
    """Every accepted entry of the contest, blind, by neutral number."""
    numbers = jury.numbers(store, contest)
    found = []
    for candidate in jury.candidates(store, contest):
        entry = store.register.entry(candidate.receipt)
        found.append(blind_entry(numbers[candidate.receipt], entry, _media(store, entry)))
    return sorted(found, key=lambda e: e.number)


def entry(store: Store, contest: str, number: int) -> BlindEntry | None:
    receipt = jury.receipt_for(store, contest, number)
    if receipt is None or receipt not in {c.receipt for c in jury.candidates(store, contest)}:
        return None
    found = store.register.entry(receipt)
    return blind_entry(number, found, _media(store, found))


def own_scores(store: Store, contest: str, juror: str) -> dict[int, Score]:
    """The juror's scores of the contest's latest round, by neutral number."""
    numbers = jury.numbers(store, contest)
    return {numbers[r]: s for r, s in jury.juror_scores(store, contest, juror).items() if r in numbers}


def own_conflicts(store: Store, contest: str, juror: str) -> set[int]:
    numbers = jury.numbers(store, contest)
    return {numbers[r] for r, j in jury.conflicts(store, contest) if j == juror and r in numbers}


def receipt_of(store: Store, contest: str, number: int) -> str | None:
    """For the write calls only: a juror's page never shows it."""
    return jury.receipt_for(store, contest, number)


# -- files ------------------------------------------------------------------------------------------

def fetchable(store: Store, juror: str, sha256: str) -> BlindFile | None:
    """The file if it is a photo or video of an accepted entry of a contest assigned to the juror."""
    assigned = set(jury.contests_of(store, juror))
    if not assigned:
        return None
    receipts = [r[0] for r in store.db.execute(
        "SELECT m.receipt FROM attachments a JOIN messages m ON m.id = a.message WHERE a.sha256=? "
        "AND m.receipt IS NOT NULL UNION SELECT receipt FROM uploads WHERE sha256=?", [sha256, sha256])]
    for receipt in dict.fromkeys(receipts):
        current = store.register.entry(receipt)
        if current is None or current["contest"] not in assigned or current["outcome"] != "accepted":
            continue
        for item in _media(store, current):
            if item["sha256"] == sha256 and item.get("kind") in MEDIA:
                return BlindFile(sha256, item["kind"], "", item.get("duration_s"), item.get("width"),
                                 item.get("height"), item.get("mime") or "")
    return None


def clean_copy(store: Store, item: BlindFile) -> Path | None:
    """The file without metadata, made on first use; None when it cannot be made (never the original)."""
    suffix = SUFFIX.get(item.mime, ".jpg" if item.kind == "image" else ".mp4")
    target = store.blobs.root / COPIES / item.sha256[:2] / f"{item.sha256}{suffix}"
    if target.is_file():
        return target
    source = store.blobs.path("att", item.sha256)
    if not source.is_file():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".part-", suffix=suffix)
    os.close(fd)
    try:
        made = _clean_image(source, Path(partial)) if item.kind == "image" else _clean_video(source, Path(partial))
        if made:
            os.replace(partial, target)
            return target
        return None
    finally:
        Path(partial).unlink(missing_ok=True)


def _clean_image(source: Path, target: Path) -> bool:
    """Pixels only (turned upright as EXIF says), and the colour profile; no EXIF, XMP, IPTC or comment."""
    try:
        with Image.open(source) as image:
            profile = image.info.get("icc_profile")
            upright = ImageOps.exif_transpose(image)
            if target.suffix != ".png":
                upright = upright.convert("RGB")
            # Pillow writes what `info` holds (a JPEG or GIF comment, EXIF, XMP) unless told otherwise:
            # save from an empty `info`, with only the colour profile passed explicitly.
            upright.info = {}
            if target.suffix == ".png":
                upright.save(target, "PNG", icc_profile=profile)
            else:
                upright.save(target, "JPEG", quality=95, subsampling=0, icc_profile=profile)
        return True
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        log.error("juror copy of image %s failed: %s", source.name, err)
        return False


def _clean_video(source: Path, target: Path) -> bool:
    """The same streams in the same container, every metadata tag and chapter dropped."""
    from ..demo.media import ffmpeg_exe
    try:
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(source), "-map", "0:v",
                        "-map", "0:a?", "-map_metadata", "-1", "-map_chapters", "-1",
                        "-c", "copy", "-movflags", "+faststart", str(target)],
                       check=True, timeout=600, capture_output=True)
        return target.stat().st_size > 0
    except (OSError, RuntimeError, subprocess.SubprocessError) as err:
        log.error("juror copy of video %s failed: %s", source.name, err)
        return False
