"""成果展示: the awarded works as a self-contained static folder that opens from disk or any web server.

`index.html` (styles inline, no script, relative links only), `media/` with the photos and videos
under their content hash (never a sender's file name), `thumbs/` with small JPEGs (a video's poster
is a frame taken by ffmpeg). Shown per contest and prize: title, author or team, unit, media, and
only the extra fields the organizer ticks, with phone numbers and email addresses masked even there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..reply import environment
from ..store import Store
from . import AwardsError
from .blind import EMAIL, MASK, PHONE
from .config import AwardsRules
from .jury import is_published, log
from .results import winners

THUMB_PX = 640
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "video/mp4": ".mp4", "video/quicktime": ".mov",
              "video/webm": ".webm"}
FIELD_LABELS = {"bio": "简介", "description": "作品简介", "track": "赛道", "shot_time": "拍摄时间",
                "shot_place": "拍摄地点", "members": "团队人数"}


@dataclass(frozen=True)
class ShowcaseSummary:
    works: int
    images: int
    videos: int
    path: Path


def scrub(text: str) -> str:
    return EMAIL.sub(MASK, PHONE.sub(MASK, str(text or "")))


def _thumbnail(source: Path, target: Path) -> bool:
    try:
        with Image.open(source) as image:
            image.draft("RGB", (THUMB_PX * 2, THUMB_PX * 2))
            image = image.convert("RGB")
            image.thumbnail((THUMB_PX, THUMB_PX))
            image.save(target, "JPEG", quality=80)
        return True
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


def _poster(source: Path, target: Path, duration: float | None) -> bool:
    from ..demo.media import ffmpeg_exe
    try:
        at = f"{min(1.0, (duration or 2) / 2):.2f}"
        with tempfile.TemporaryDirectory() as tmp:
            frame = Path(tmp) / "frame.png"
            subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-ss", at, "-i", str(source),
                            "-frames:v", "1", "-y", str(frame)], check=True, timeout=60)
            return _thumbnail(frame, target)
    except (OSError, RuntimeError, subprocess.SubprocessError):
        return False


def _copy(source: Path, target: Path) -> None:
    if target.exists():
        return
    # A copy, never a hard link: an edit to the showcase must not change the stored original.
    partial = target.with_name(f".{target.name}.part")
    shutil.copyfile(source, partial)
    partial.replace(target)


def build(store: Store, awards: AwardsRules, contest_names: dict[str, str], target: Path,
          contests: list[str] | None = None, show: tuple[str, ...] = (), actor: str = "staff") -> ShowcaseSummary:
    """Write the showcase of the published contests (or of `contests`) into `target`."""
    wanted = contests or [c for c in awards.contests if is_published(store, c)]
    unpublished = [c for c in wanted if not is_published(store, c)]
    if unpublished or not wanted:
        raise AwardsError(f"以下比赛的获奖名单尚未公布：{'、'.join(unpublished)}" if unpublished else "还没有已公布的获奖名单")
    target = Path(target)
    for sub in ("media", "thumbs"):
        (target / sub).mkdir(parents=True, exist_ok=True)
    sections, counts = [], {"image": 0, "video": 0, "works": 0}
    for contest in wanted:
        rules = awards.contest(contest)
        groups: dict[str, list] = {}
        for winner in winners(store, rules):
            entry = store.register.entry(winner.receipt)
            fields = json.loads(entry["fields"] or "{}")
            media = [m for m in (_medium(store, a, target) for a in store.register.attachments(entry["id"])) if m]
            for m in media:
                counts[m["kind"]] += 1
            counts["works"] += 1
            groups.setdefault(winner.prize, []).append({
                "title": scrub(winner.work), "name": scrub(winner.name), "unit": scrub(winner.unit), "media": media,
                "extra": [(FIELD_LABELS.get(k, k), scrub(fields[k])) for k in show if fields.get(k)]})
        sections.append({"id": contest, "name": contest_names.get(contest, contest), "title": rules.title,
                         "groups": [(p.name, groups[p.name]) for p in rules.prizes if p.name in groups]})
    html = environment().get_template("award_showcase.html").render(
        title=awards.common.showcase_title, intro=awards.common.showcase_intro, sections=sections,
        organizers=awards.common.organizers)
    partial = target / ".index.html.part"
    partial.write_text(html, encoding="utf-8")
    partial.replace(target / "index.html")
    log(store, actor, "showcase_built", {"contests": wanted, "works": counts["works"], "path": str(target)})
    return ShowcaseSummary(counts["works"], counts["image"], counts["video"], target)


def _medium(store: Store, attachment: dict, target: Path) -> dict | None:
    kind, sha = attachment["kind"], attachment["sha256"]
    if kind not in ("image", "video") or not store.blobs.path("att", sha).exists():
        return None
    ext = EXTENSIONS.get(attachment["mime"] or "", ".jpg" if kind == "image" else ".mp4")
    source = store.blobs.path("att", sha)
    _copy(source, target / "media" / f"{sha}{ext}")
    thumb = target / "thumbs" / f"{sha}.jpg"
    made = thumb.exists() or (_thumbnail(source, thumb) if kind == "image"
                              else _poster(source, thumb, attachment.get("duration_s")))
    return {"kind": kind, "src": f"media/{sha}{ext}", "thumb": f"thumbs/{sha}.jpg" if made else "",
            "mime": attachment["mime"] or ("image/jpeg" if kind == "image" else "video/mp4"),
            "width": attachment.get("width"), "height": attachment.get("height")}
