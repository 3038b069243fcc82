"""The entry list (filters, search, sort, pages, several at once, export), one entry on one screen,
and the staff actions on it, each one call into `staff.py`."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from .. import queries, staff
from ..errors import InboxError
from ..queries import EntryFilter, QueryError
from ..times import SHANGHAI
from .auth import DECIDE, EXPORT, READ, ActionForm, console, roles, store

bp = Blueprint("entries", __name__)
DECISION_CHOICES = [("accept", "通过（登记）"), ("reject", "不通过"), ("not_submission", "不是投稿，不处理")]
PER_PAGE = 50


class DecideForm(FlaskForm):
    decision = RadioField("决定", choices=DECISION_CHOICES, validators=[DataRequired("请选择决定")])
    note = TextAreaField("内部备注（必填，只有工作人员看得到）",
                         validators=[DataRequired("请写内部备注：为什么这样决定"), Length(max=2000)])
    message = TextAreaField("给投稿人的话（选填，会写进回复邮件）", validators=[Length(max=2000)])
    then = HiddenField()


class ContestForm(FlaskForm):
    contest = SelectField("比赛", validators=[DataRequired("请选择比赛")])


class FieldForm(FlaskForm):
    field = HiddenField(validators=[DataRequired()])
    value = StringField("更正为", validators=[DataRequired("请填写更正后的内容"), Length(max=2000)])


class UploadForm(FlaskForm):
    work = FileField("作品文件", validators=[FileRequired("请选择文件")])


class BulkForm(FlaskForm):
    action = SelectField("对选中的投稿", choices=[("requeue", "重新判定"), ("accept", "通过"), ("reject", "不通过")])
    note = TextAreaField("内部备注（通过/不通过时必填）", validators=[Length(max=2000)])
    message = TextAreaField("给投稿人的话（选填）", validators=[Length(max=2000)])


# -- the list ---------------------------------------------------------------------------------------

def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


FILTER_KEYS = ("contest", "outcome", "rule", "mailbox", "since", "until", "link", "q", "sort", "order")


def filter_from_request() -> EntryFilter:
    args = request.args
    try:
        page = max(1, int(args.get("page") or 1))
    except ValueError:
        page = 1
    f = EntryFilter(contest=args.get("contest") or None, outcome=args.get("outcome") or None,
                    rule=(args.get("rule") or "").strip() or None, mailbox=args.get("mailbox") or None,
                    since=_date(args.get("since")), until=_date(args.get("until")), has_link=bool(args.get("link")),
                    q=(args.get("q") or "")[:100], sort=args.get("sort") or "received",
                    descending=args.get("order", "desc") != "asc", page=page, per_page=PER_PAGE)
    try:
        return f.validate(console().rules, console().mailboxes)
    except QueryError as err:
        flash(str(err), "error")
        return EntryFilter(per_page=PER_PAGE)


@bp.route("/entries")
@roles(*READ)
def entry_list():
    f = filter_from_request()
    page = queries.entry_page(store().db, f)
    # Only the filter's own keys go back into the page's links (url_for would take `endpoint`, `_external`,
    # `_scheme` or `_anchor` from the query string as its own arguments).
    args = {k: v for k, v in request.args.items() if k in FILTER_KEYS and v}
    template = "_entry_rows.html" if request.headers.get("HX-Request") else "entries.html"
    return render_template(template, page=page, f=f, args=args, rules=console().rules,
                           mailboxes=console().mailboxes, rule_ids=queries.rule_ids(console().rules),
                           bulk=BulkForm(), outcomes=queries.OUTCOME_NAMES)


@bp.route("/entries/export")
@roles(*EXPORT)
def export():
    f = filter_from_request()
    headers, rows = queries.export_table(store().db, console().rules, f)
    stamp = datetime.now(SHANGHAI).strftime("%Y%m%d-%H%M")
    if request.args.get("format") == "csv":
        out = io.StringIO()
        out.write("\ufeff")  # Excel reads UTF-8 only with the BOM
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(headers)
        writer.writerows([[_csv_cell(v) for v in row] for row in rows])
        return send_file(io.BytesIO(out.getvalue().encode("utf-8")), mimetype="text/csv", as_attachment=True,
                         download_name=f"投稿登记-{stamp}.csv")
    return send_file(io.BytesIO(_xlsx(headers, rows)), as_attachment=True, download_name=f"投稿登记-{stamp}.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _csv_cell(value):
    """A cell that a spreadsheet will not run as a formula."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _xlsx(headers: list[str], rows: list[list]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    book = Workbook()
    sheet = book.active
    sheet.title = "投稿登记"
    sheet.append(headers)
    for values in rows:
        sheet.append([v if isinstance(v, (int, datetime)) else ("" if v is None else str(v)) for v in values])
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text stays text, even when it starts with "="
            elif isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@bp.route("/entries/bulk", methods=["POST"])
@roles(*DECIDE)
def bulk():
    form = BulkForm()
    keys = [k for k in request.form.getlist("keys") if k][:500]
    if not form.validate_on_submit() or not keys:
        flash("请先勾选投稿。" if not keys else "表单有误，请重试。", "error")
        return redirect(request.referrer or url_for("entries.entry_list"))
    done, failed = 0, []
    for key in keys:
        try:
            if form.action.data == "requeue":
                _requeue(key)
            else:
                staff.override(store(), key, form.action.data, form.note.data or "", actor=current_user.name,
                               context=console().context, message=form.message.data or "")
            done += 1
        except InboxError as err:
            failed.append(f"{key}：{err}")
    flash(f"已处理 {done} 件。" + ("".join(f" {line}" for line in failed[:5]) if failed else ""),
          "error" if failed else "ok")
    return redirect(request.referrer or url_for("entries.entry_list"))


# -- one entry ----------------------------------------------------------------------------------------

@bp.route("/entries/<key>")
@roles(*READ)
def entry(key: str):
    view = queries.entry_view(store(), console().rules, key)
    if view is None:
        abort(404)
    if view.key != key:
        return redirect(url_for("entries.entry", key=view.key))
    return _entry_page(view)


@bp.route("/messages/<int:pk>")
@roles(*READ)
def message(pk: int):
    view = queries.entry_view(store(), console().rules, f"#{pk}")
    if view is None:
        abort(404)
    if view.receipt:
        return redirect(url_for("entries.entry", key=view.receipt))
    return _entry_page(view)


def _entry_page(view):
    before, after = queries.review_neighbours(store().db, view.key)
    contest_form = ContestForm()
    contest_form.contest.choices = [(cid, c.name) for cid, c in console().rules.contests.items()]
    decide = DecideForm(then="next" if request.args.get("from") == "review" else "")
    return render_template("entry.html", view=view, rules=console().rules, before=before, after=after,
                           decide=decide, contest_form=contest_form, field_form=FieldForm(),
                           upload=UploadForm(), action=ActionForm(), outcomes=queries.OUTCOME_NAMES,
                           from_review=request.args.get("from") == "review")


def _back(key: str, then: str = ""):
    if then == "next":
        _, after = queries.review_neighbours(store().db, key)
        if after:
            return redirect(url_for("entries.entry", key=after, **{"from": "review"}))
        flash("待审核的投稿都处理完了。", "ok")
        return redirect(url_for("pages.review"))
    return redirect(url_for("entries.entry", key=key) if not key.startswith("#")
                    else url_for("entries.message", pk=int(key[1:])))


def _act(key: str, action, done: str, then: str = ""):
    try:
        change = action()
    except InboxError as err:
        flash(str(err), "error")
        return _back(key)
    label = queries.OUTCOME_NAMES
    flash(f"{done}：{label.get(change.before, change.before)} → {label.get(change.after, change.after)}"
          if change is not None and hasattr(change, "before") else done, "ok")
    return _back(key, then)


@bp.route("/entries/<key>/decide", methods=["POST"])
@roles(*DECIDE)
def decide(key: str):
    form = DecideForm()
    if not form.validate_on_submit():
        flash("；".join(m for errors in form.errors.values() for m in errors), "error")
        return _back(key)
    return _act(key, lambda: staff.override(store(), key, form.decision.data, form.note.data,
                                            actor=current_user.name, context=console().context,
                                            message=form.message.data or ""),
                "已记录决定", form.then.data)


def _message_ids(key: str) -> list[int]:
    if key.startswith("#") and key[1:].isdigit():
        return [int(key[1:])]
    return staff.select_messages(store(), receipts=(key,))


def _requeue(key: str):
    changes = staff.requeue(store(), console().context, _message_ids(key), actor=current_user.name)
    return changes[-1] if changes else None


@bp.route("/entries/<path:key>/requeue", methods=["POST"])
@roles(*DECIDE)
def requeue(key: str):
    if not ActionForm().validate_on_submit():
        abort(400)
    return _act(key, lambda: _requeue(key), "已重新判定")


@bp.route("/entries/<path:key>/preview")
@roles(*DECIDE)
def preview(key: str):
    """What a requeue would change, decided and not written (the library's dry run)."""
    try:
        changes = staff.requeue(store(), console().context, _message_ids(key), actor=current_user.name, dry_run=True)
    except InboxError as err:
        flash(str(err), "error")
        return _back(key)
    names = queries.OUTCOME_NAMES
    for change in changes:
        rules = "、".join(change.rules_after) or "无"
        flash(f"按当前规则重新判定：{names.get(change.before, change.before)} → "
              f"{names.get(change.after, change.after)}（检查项：{rules}）" if change.changed
              else f"按当前规则重新判定，结果不变：{names.get(change.after, change.after)}", "ok")
    return _back(key)


@bp.route("/entries/<key>/contest", methods=["POST"])
@roles(*DECIDE)
def set_contest(key: str):
    form = ContestForm()
    form.contest.choices = [(cid, c.name) for cid, c in console().rules.contests.items()]
    if not form.validate_on_submit():
        flash("请选择比赛。", "error")
        return _back(key)
    return _act(key, lambda: staff.set_contest(store(), console().context, key, form.contest.data,
                                               actor=current_user.name), "已指定比赛并重新判定")


@bp.route("/entries/<key>/field", methods=["POST"])
@roles(*DECIDE)
def correct_field(key: str):
    form = FieldForm()
    if not form.validate_on_submit():
        flash("请填写更正后的内容。", "error")
        return _back(key)
    return _act(key, lambda: staff.correct_field(store(), console().context, key, form.field.data,
                                                 form.value.data.strip(), actor=current_user.name),
                "已更正字段并重新判定")


@bp.route("/entries/<key>/upload", methods=["POST"])
@roles(*DECIDE)
def upload(key: str):
    form = UploadForm()
    if not form.validate_on_submit():
        flash("请选择要上传的作品文件。", "error")
        return _back(key)
    work = form.work.data
    chunks = iter(lambda: work.stream.read(1 << 20), b"")
    name = (work.filename or "作品").replace("/", "_").replace("\\", "_")[:200]
    return _act(key, lambda: staff.add_work(store(), console().context, key, name, chunks,
                                            actor=current_user.name), "作品已上传并重新判定")


@bp.route("/outbox/<int:outbox_id>/resend", methods=["POST"])
@roles(*DECIDE)
def resend(outbox_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    row = store().db.execute("SELECT o.message, m.receipt FROM outbox o JOIN messages m ON m.id = o.message "
                             "WHERE o.id=?", [outbox_id]).fetchone()
    if row is None:
        abort(404)
    try:
        done = staff.resend(store(), outbox_id, actor=current_user.name)
        flash("已重新排队发送。" if done else "这封回复不是发送失败状态，无需重发。", "ok" if done else "error")
    except InboxError as err:
        flash(str(err), "error")
    return _back(row[1] or f"#{row[0]}")
