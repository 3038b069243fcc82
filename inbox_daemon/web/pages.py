"""Pages that read: the overview, the review queue, the rules in force, the digest archive, and the
stored files (by hash, only when some entry or message links them)."""

from __future__ import annotations

import io
import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, abort, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from PIL import Image, ImageOps

from .. import queries
from ..times import SHANGHAI
from .auth import ANYONE, EXPORT, READ, console, roles, store

bp = Blueprint("pages", __name__)
SHA256 = re.compile(r"^[0-9a-f]{64}$")
INLINE = {"image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4", "video/webm", "video/quicktime"}
THUMB_PX = 480


def today():
    return datetime.now(SHANGHAI).date()


@bp.route("/")
@roles(*ANYONE)
def index():
    if current_user.role == "juror":
        return redirect(url_for("jury.index"))
    return redirect(url_for("pages.dashboard"))


@bp.route("/overview")
@roles(*READ)
def dashboard():
    data = queries.overview(store().db, console().rules, today(), mailboxes=console().mailboxes)
    peak = max([count for _, count in data["chart"]] + [1])
    return render_template("dashboard.html", data=data, peak=peak, today=today())


@bp.route("/review")
@roles(*READ)
def review():
    rows, total = queries.review_queue(store().db)
    return render_template("review.html", rows=rows, total=total, rules=console().rules)


@bp.route("/rules")
@roles(*READ)
def rules():
    return render_template("rules.html", rules=console().rules)


def _reports_dir() -> Path:
    return Path(console().config.digest.reports_dir)


@bp.route("/digests")
@roles(*READ)
def digests():
    folder = _reports_dir()
    days = sorted((p.stem for p in folder.glob("*.html") if re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.stem)),
                  reverse=True) if folder.is_dir() else []
    return render_template("digests.html", days=days)


@bp.route("/digests/<day>")
@roles(*READ)
def digest(day: str):
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
        abort(404)
    path = _reports_dir() / f"{day}.html"
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype="text/html", conditional=True)
    # Our own escaped report, with its own <style> and data: thumbnails; nothing else may load.
    response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'unsafe-inline'; "
                                                   "img-src data:; frame-ancestors 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/export")
@roles(*EXPORT)
def export():
    return render_template("export.html", rules=console().rules)


@bp.route("/export/<contest>.<fmt>")
@roles(*EXPORT)
def export_annex(contest: str, fmt: str):
    """The registration sheet of one contest in the notice's annex layout (tables.py, as the CLI exports)."""
    from .. import tables
    rules_ = console().rules
    if contest not in rules_.contests or fmt not in ("xlsx", "csv"):
        abort(404)
    name = f"{rules_.contests[contest].name}-登记表-{today().strftime('%Y%m%d')}.{fmt}"
    if fmt == "csv":
        out = io.StringIO()
        tables.write_csv(store(), rules_, contest, out)
        return send_file(io.BytesIO(out.getvalue().encode("utf-8")), mimetype="text/csv", as_attachment=True,
                         download_name=name)
    data, _ = tables.xlsx_bytes(store(), rules_, contest)
    return send_file(io.BytesIO(data), as_attachment=True, download_name=name,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


# -- files -------------------------------------------------------------------------------------------

def _linked(sha256: str) -> dict:
    if not SHA256.match(sha256):
        abort(404)
    row = queries.file_for(store().db, sha256)
    if row is None:
        abort(404)  # a blob no entry links is never served, whatever its hash
    return row


@bp.route("/files/<sha256>")
@roles(*READ)
def file(sha256: str):
    row = _linked(sha256)
    path = store().blobs.path("att", sha256)
    if not path.is_file():
        abort(404)
    mime = row["mime"] or "application/octet-stream"
    inline = mime in INLINE and request.args.get("download") is None
    # The type we probed, never the sender's; conditional=True answers Range requests with 206.
    return send_file(path, mimetype=mime if mime in INLINE else "application/octet-stream", conditional=True,
                     as_attachment=not inline, download_name=row["filename"] or sha256, etag=sha256,
                     max_age=3600)


@bp.route("/files/<sha256>/thumbnail")
@roles(*READ)
def thumbnail(sha256: str):
    row = _linked(sha256)
    if row["kind"] != "image":
        abort(404)
    data = _thumbnail(str(store().blobs.path("att", sha256)))
    if data is None:
        abort(404)
    return send_file(io.BytesIO(data), mimetype="image/jpeg", max_age=3600, etag=f"t-{sha256}")


@lru_cache(maxsize=256)
def _thumbnail(path: str) -> bytes | None:
    try:
        with Image.open(path) as image:
            image.draft("RGB", (THUMB_PX * 2, THUMB_PX * 2))  # JPEG: decode at a reduced scale
            image = ImageOps.exif_transpose(image).convert("RGB")
            image.thumbnail((THUMB_PX, THUMB_PX))
            image.info = {}  # jurors see thumbnails too: no comment, EXIF or XMP carried over on save
            out = io.BytesIO()
            image.save(out, "JPEG", quality=80)
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


@bp.route("/messages/<int:pk>/raw")
@roles(*READ)
def raw_message(pk: int):
    message = store().register.message(pk)
    if message is None:
        abort(404)
    path = store().blobs.path("raw", message["raw_sha256"])
    if not path.is_file():
        abort(404)
    name = f"{message['receipt'] or 'message'}-{pk}.eml"
    return send_file(path, mimetype="application/octet-stream", as_attachment=True, download_name=name,
                     conditional=True)
