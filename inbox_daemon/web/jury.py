"""The jury's pages: a juror sees the contests assigned, their accepted entries blind and by neutral
number, scores each criterion, comments, declares a conflict, and watches their own progress.

Nothing here names an author: the entries come from `awards.panel` (masked by `awards.blind`), the
files are metadata-free copies served only for entries of the juror's contests, and an error from
the library that carries a receipt is shown with the neutral number instead. Every write is one
call into `awards.jury`; jurors reach no other page of the console (`READ` leaves them out).
"""

from __future__ import annotations

import io

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import FieldList, FloatField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from ..awards import AwardsError, jury, panel
from . import pages
from .auth import awards_rules, console, roles, store

bp = Blueprint("jury", __name__, url_prefix="/jury")
JUROR = ("juror",)


class ScoreForm(FlaskForm):
    points = FieldList(FloatField(validators=[InputRequired("请给每一项评分标准打分")]))
    comment = TextAreaField("评语（选填）", validators=[Length(max=2000)])


class ConflictForm(FlaskForm):
    reason = StringField("回避理由", validators=[DataRequired("请说明回避理由"), Length(max=200)])


def _contest(contest: str):
    """The contest's awards rules, if it is assigned to this juror and judged by a jury; else 404."""
    rules = awards_rules().contests.get(contest)
    if rules is None or rules.jury is None or contest not in jury.contests_of(store(), current_user.name):
        abort(404)
    return rules


def _field_labels(contest: str) -> dict[str, str]:
    rules = console().rules.contests.get(contest)
    return {f.name: f.labels[0] for f in rules.fields} if rules else {}


def _mine(contest: str):
    return next((p for p in jury.juror_progress(store(), contest) if p.juror == current_user.name), None)


@bp.route("/")
@roles(*JUROR)
def index():
    return render_template("jury/index.html", desks=panel.desks(store(), awards_rules(), current_user.name))


@bp.route("/<contest>/")
@roles(*JUROR)
def contest_page(contest: str):
    rules = _contest(contest)
    state, round_ = jury.judging_state(store(), contest)
    return render_template("jury/contest.html", rules=rules, contest=contest, state=state, round=round_,
                           entries=panel.entries(store(), contest), progress=_mine(contest),
                           scores=panel.own_scores(store(), contest, current_user.name),
                           conflicts=panel.own_conflicts(store(), contest, current_user.name))


@bp.route("/<contest>/<int:number>")
@roles(*JUROR)
def entry(contest: str, number: int):
    rules = _contest(contest)
    view = panel.entry(store(), contest, number)
    if view is None:
        abort(404)
    numbers = [e.number for e in panel.entries(store(), contest)]
    at = numbers.index(number)
    scores = panel.own_scores(store(), contest, current_user.name)
    state, round_ = jury.judging_state(store(), contest)
    given = scores.get(number)
    form = ScoreForm(comment=given.comment if given else "")
    return render_template("jury/entry.html", rules=rules, contest=contest, view=view, state=state, round=round_,
                           given=given, form=form, conflict=ConflictForm(), progress=_mine(contest),
                           conflicted=number in panel.own_conflicts(store(), contest, current_user.name),
                           labels=_field_labels(contest), before=numbers[at - 1] if at else None,
                           after=numbers[at + 1] if at + 1 < len(numbers) else None)


def _neutral(err: Exception, contest: str, number: int, receipt: str | None) -> str:
    """The library's message with the receipt replaced by the neutral number (a juror never sees it)."""
    text = str(err)
    if receipt:
        text = text.replace(receipt, f"{number} 号作品")
    return text.replace(current_user.name, "您")


def _next_unscored(contest: str, number: int) -> int | None:
    done = set(panel.own_scores(store(), contest, current_user.name)) | panel.own_conflicts(
        store(), contest, current_user.name)
    numbers = [e.number for e in panel.entries(store(), contest)]
    later = [n for n in numbers if n not in done and n > number] + [n for n in numbers if n not in done and n < number]
    return later[0] if later else None


@bp.route("/<contest>/<int:number>/score", methods=["POST"])
@roles(*JUROR)
def score(contest: str, number: int):
    rules = _contest(contest)
    form = ScoreForm()
    receipt = panel.receipt_of(store(), contest, number)
    if receipt is None:
        abort(404)
    if not form.validate_on_submit():
        flash("；".join(dict.fromkeys(m for errors in form.errors.values() for m in _flat(errors))) or "表单有误，请重试。",
              "error")
        return redirect(url_for("jury.entry", contest=contest, number=number))
    try:
        total = jury.record_score(store(), rules, receipt, current_user.name, list(form.points.data),
                                  form.comment.data or "")
    except AwardsError as err:
        flash(_neutral(err, contest, number, receipt), "error")
        return redirect(url_for("jury.entry", contest=contest, number=number))
    flash(f"{number} 号作品的评分已保存，合计 {total:g} 分。", "ok")
    if request.form.get("then") == "next":
        following = _next_unscored(contest, number)
        if following is None:
            flash("本比赛的作品您都已评完。评审结束前仍可修改。", "ok")
            return redirect(url_for("jury.contest_page", contest=contest))
        return redirect(url_for("jury.entry", contest=contest, number=following))
    return redirect(url_for("jury.entry", contest=contest, number=number))


def _flat(errors) -> list[str]:
    """Form errors, FieldList's nested lists included."""
    out = []
    for item in errors:
        out += _flat(item) if isinstance(item, (list, tuple)) else [str(item)]
    return out


@bp.route("/<contest>/<int:number>/conflict", methods=["POST"])
@roles(*JUROR)
def conflict(contest: str, number: int):
    _contest(contest)
    form = ConflictForm()
    receipt = panel.receipt_of(store(), contest, number)
    if receipt is None:
        abort(404)
    if not form.validate_on_submit():
        flash("请说明回避理由（如 同单位、亲属）。", "error")
        return redirect(url_for("jury.entry", contest=contest, number=number))
    try:
        jury.declare_conflict(store(), contest, receipt, current_user.name, form.reason.data)
    except AwardsError as err:
        flash(_neutral(err, contest, number, receipt), "error")
    else:
        flash(f"已声明回避 {number} 号作品，您不对这件作品评分。", "ok")
    return redirect(url_for("jury.entry", contest=contest, number=number))


# -- files: metadata-free copies, only of the juror's own contests --------------------------------------

def _fetchable(sha256: str):
    if not pages.SHA256.match(sha256):
        abort(404)
    item = panel.fetchable(store(), current_user.name, sha256)
    if item is None:
        abort(404)
    path = panel.clean_copy(store(), item)
    if path is None:
        abort(404)
    return item, path


@bp.route("/files/<sha256>")
@roles(*JUROR)
def file(sha256: str):
    item, path = _fetchable(sha256)
    mime = item.mime if item.mime in pages.INLINE else ("image/jpeg" if item.kind == "image" else "video/mp4")
    # No download name: a juror's copy carries no file name at all. conditional=True answers Range with 206.
    return send_file(path, mimetype=mime, conditional=True, etag=f"j-{sha256}", max_age=3600)


@bp.route("/files/<sha256>/thumbnail")
@roles(*JUROR)
def thumbnail(sha256: str):
    item, path = _fetchable(sha256)
    data = pages._thumbnail(str(path)) if item.kind == "image" else None
    if data is None:
        abort(404)
    return send_file(io.BytesIO(data), mimetype="image/jpeg", max_age=3600, etag=f"jt-{sha256}")
