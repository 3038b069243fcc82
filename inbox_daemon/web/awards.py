"""The organizer's awards pages: jurors and rounds, progress, the ranking, allocation (choices,
adjustments, publication), the award list, certificates, winner notices, the showcase, the
platforms' stats with hand matching, the reading challenge and the 优秀组织奖 table.

Thin views over `inbox_daemon.awards`: every write is one library call that also writes the audit
event; reads come from `awards.desk`. Organizers and admins only (`EXPORT`).
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from ..errors import InboxError
from ..times import SHANGHAI
from .auth import EXPORT, ActionForm, awards_rules, console, roles, store

bp = Blueprint("awards", __name__, url_prefix="/awards")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHOWABLE = [("description", "作品简介"), ("track", "赛道"), ("shot_time", "拍摄时间"), ("shot_place", "拍摄地点"),
            ("bio", "作者及作品简介")]


class JurorForm(FlaskForm):
    juror = SelectField("评委账号", validators=[DataRequired("请选择评委")])


class RoundForm(FlaskForm):
    name = StringField("轮次名称", default="初评", validators=[DataRequired("请填写轮次名称"), Length(max=40)])


class ChooseForm(FlaskForm):
    prize = StringField(validators=[DataRequired()])
    receipts = SelectMultipleField("获奖作品", validate_choice=False)


class AdjustForm(FlaskForm):
    receipt = SelectField("作品", validators=[DataRequired("请选择作品")])
    prize = SelectField("改为")
    reason = TextAreaField("理由（必填，记入处理记录）", validators=[DataRequired("请填写调整理由"), Length(max=500)])


class StatsForm(FlaskForm):
    platform = SelectField("平台", validators=[DataRequired("请选择平台")])
    sheet = FileField("导出文件（.xlsx 或 .csv）", validators=[FileRequired("请选择文件")])


class MatchForm(FlaskForm):
    receipt = StringField("回执号")


class SheetForm(FlaskForm):
    sheet = FileField("阅读记录（.xlsx 或 .csv）", validators=[FileRequired("请选择文件")])


class ShowcaseForm(FlaskForm):
    contests = SelectMultipleField("比赛", validate_choice=False)
    show = SelectMultipleField("另外展示", choices=SHOWABLE)


def _rules(contest: str):
    rules = awards_rules().contests.get(contest)
    if rules is None:
        abort(404)
    return rules


def _names() -> dict[str, str]:
    return {cid: c.name for cid, c in console().rules.contests.items()}


def _done(action, ok: str, back: str):
    """One library call; its refusal (a closed round, a published list…) becomes the flash message."""
    try:
        result = action()
    except InboxError as err:
        flash(str(err), "error")
    else:
        flash(ok(result) if callable(ok) else ok, "ok")
    return redirect(back)


def _form_errors(form) -> str:
    return "；".join(m for errors in form.errors.values() for m in errors) or "表单有误，请重试。"


def _today() -> str:
    return datetime.now(SHANGHAI).strftime("%Y%m%d")


# -- overview, jurors, rounds, progress -----------------------------------------------------------------

@bp.route("/")
@roles(*EXPORT)
def index():
    from ..awards import desk
    return render_template("awards/index.html", summaries=desk.summaries(store(), awards_rules()),
                           reading=awards_rules().reading is not None)


@bp.route("/<contest>/")
@roles(*EXPORT)
def contest_page(contest: str):
    from ..awards import desk, jury
    rules = _rules(contest)
    assign = JurorForm()
    assigned = jury.jurors(store(), contest)
    assign.juror.choices = [(name, name) for name in desk.juror_accounts(store()) if name not in assigned]
    state, round_ = jury.judging_state(store(), contest)
    return render_template("awards/contest.html", rules=rules, contest=contest, jurors=assigned, assign=assign,
                           round_form=RoundForm(), action=ActionForm(), state=state, round=round_,
                           progress=jury.juror_progress(store(), contest) if round_ else [],
                           entries=len(jury.candidates(store(), contest)))


@bp.route("/<contest>/jurors", methods=["POST"])
@roles(*EXPORT)
def assign_juror(contest: str):
    from ..awards import desk, jury
    _rules(contest)
    form = JurorForm()
    form.juror.choices = [(name, name) for name in desk.juror_accounts(store())]
    back = url_for("awards.contest_page", contest=contest)
    if not form.validate_on_submit():
        flash(_form_errors(form), "error")
        return redirect(back)
    return _done(lambda: jury.assign(store(), contest, form.juror.data, current_user.name),
                 f"已分配评委 {form.juror.data}。", back)


@bp.route("/<contest>/jurors/<juror>/remove", methods=["POST"])
@roles(*EXPORT)
def remove_juror(contest: str, juror: str):
    from ..awards import jury
    _rules(contest)
    if not ActionForm().validate_on_submit():
        abort(400)
    return _done(lambda: jury.unassign(store(), contest, juror, current_user.name), f"已取消评委 {juror} 的分配。",
                 url_for("awards.contest_page", contest=contest))


@bp.route("/<contest>/round/open", methods=["POST"])
@roles(*EXPORT)
def open_round(contest: str):
    from ..awards import jury
    _rules(contest)
    form = RoundForm()
    back = url_for("awards.contest_page", contest=contest)
    if not form.validate_on_submit():
        flash(_form_errors(form), "error")
        return redirect(back)
    return _done(lambda: jury.open_round(store(), contest, form.name.data.strip(), current_user.name),
                 f"评审轮次“{form.name.data.strip()}”已开始，评委现在可以评分。", back)


@bp.route("/<contest>/round/close", methods=["POST"])
@roles(*EXPORT)
def close_round(contest: str):
    from ..awards import jury
    _rules(contest)
    if not ActionForm().validate_on_submit():
        abort(400)
    return _done(lambda: jury.close_round(store(), contest, current_user.name), "评审轮次已结束，评分已锁定。",
                 url_for("awards.contest_page", contest=contest))


# -- ranking and allocation ----------------------------------------------------------------------------------

@bp.route("/<contest>/ranking")
@roles(*EXPORT)
def ranking(contest: str):
    from ..awards import desk, jury
    rules = _rules(contest)
    state, round_ = jury.judging_state(store(), contest)
    return render_template("awards/ranking.html", rules=rules, contest=contest, rows=desk.ranking(store(), rules),
                           state=state, round=round_)


@bp.route("/<contest>/allocation")
@roles(*EXPORT)
def allocation(contest: str):
    from ..awards import desk, jury, notices, results
    rules = _rules(contest)
    state, round_ = jury.judging_state(store(), contest)
    current = results.compute(store(), rules)
    adjust = AdjustForm()
    adjust.receipt.choices = desk.entry_choices(store(), rules)
    adjust.prize.choices = [(p.name, p.name) for p in rules.prizes] + [("", "取消奖项")]
    shortlists = {prize: desk.shortlist_rows(store(), receipts) for prize, receipts in current.shortlists.items()}
    queued = notices.queued(store(), contest) if state == "published" else {}
    return render_template("awards/allocation.html", rules=rules, contest=contest, state=state, round=round_,
                           winners=results.winners(store(), rules), current=current, shortlists=shortlists,
                           chosen=results.choices(store(), contest), adjustments=results.adjustments(store(), contest),
                           adjust=adjust, choose=ChooseForm(), action=ActionForm(), queued=queued)


def _to_allocation(contest: str) -> str:
    return url_for("awards.allocation", contest=contest)


@bp.route("/<contest>/allocate", methods=["POST"])
@roles(*EXPORT)
def allocate(contest: str):
    from ..awards import results
    rules = _rules(contest)
    if not ActionForm().validate_on_submit():
        abort(400)
    return _done(lambda: results.save(store(), rules, current_user.name),
                 lambda found: f"已按规则分配奖项：{len(found.awards)} 件作品获奖。", _to_allocation(contest))


@bp.route("/<contest>/choose", methods=["POST"])
@roles(*EXPORT)
def choose(contest: str):
    from ..awards import results
    rules = _rules(contest)
    form = ChooseForm()
    if not form.validate_on_submit():
        flash(_form_errors(form), "error")
        return redirect(_to_allocation(contest))
    return _done(lambda: results.choose(store(), rules, form.prize.data, list(form.receipts.data), current_user.name),
                 f"已选定“{form.prize.data}”的获奖作品。", _to_allocation(contest))


@bp.route("/<contest>/adjust", methods=["POST"])
@roles(*EXPORT)
def adjust(contest: str):
    from ..awards import desk, results
    rules = _rules(contest)
    form = AdjustForm()
    form.receipt.choices = desk.entry_choices(store(), rules)
    form.prize.choices = [(p.name, p.name) for p in rules.prizes] + [("", "取消奖项")]
    if not form.validate_on_submit():
        flash(_form_errors(form), "error")
        return redirect(_to_allocation(contest))
    prize = form.prize.data or None
    return _done(lambda: results.change(store(), rules, form.receipt.data, prize, form.reason.data, current_user.name),
                 f"已调整 {form.receipt.data}：{prize or '取消奖项'}。", _to_allocation(contest))


@bp.route("/<contest>/publish", methods=["POST"])
@roles(*EXPORT)
def publish(contest: str):
    from ..awards import results
    rules = _rules(contest)
    if not ActionForm().validate_on_submit():
        abort(400)
    return _done(lambda: results.publish(store(), rules, current_user.name),
                 lambda count: f"获奖名单（{count} 件）已公布，评分和奖项已冻结。", _to_allocation(contest))


# -- what organizers take away -----------------------------------------------------------------------------

@bp.route("/<contest>/list.xlsx")
@roles(*EXPORT)
def award_list(contest: str):
    from ..awards.jury import log
    from ..awards.lists import award_list as workbook
    from ..awards.results import winners
    rules = _rules(contest)
    found = winners(store(), rules)
    if not found:
        flash("还没有分配奖项。", "error")
        return redirect(_to_allocation(contest))
    log(store(), current_user.name, "list_exported", {"contest": contest, "lines": len(found)})
    return send_file(io.BytesIO(workbook(rules.title, found)), mimetype=XLSX, as_attachment=True,
                     download_name=f"获奖名单-{_names().get(contest, contest)}-{_today()}.xlsx")


@bp.route("/<contest>/certificates.pdf")
@roles(*EXPORT)
def certificates(contest: str):
    from ..awards.certificates import write_pdf
    from ..awards.jury import is_published, log
    from ..awards.results import winners
    rules = _rules(contest)
    if not is_published(store(), contest):
        flash("获奖名单公布后才能打印证书。", "error")
        return redirect(_to_allocation(contest))
    return _pdf(lambda target: write_pdf(winners(store(), rules), awards_rules().common, rules.title, target),
                f"荣誉证书-{_names().get(contest, contest)}.pdf",
                lambda pages: log(store(), current_user.name, "certificates", {"contest": contest, "pages": pages}),
                _to_allocation(contest))


def _pdf(write, name: str, logged, back: str):
    """Write a PDF to a temporary file and hand it over (WeasyPrint writes files; the file is gone after)."""
    folder = Path(tempfile.mkdtemp(prefix="inbox-awards-"))
    try:
        pages = write(folder / "certificates.pdf")
        data = (folder / "certificates.pdf").read_bytes()
    except InboxError as err:
        flash(str(err), "error")
        return redirect(back)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    logged(pages)
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True, download_name=name)


@bp.route("/<contest>/notices", methods=["POST"])
@roles(*EXPORT)
def send_notices(contest: str):
    from ..awards.notices import queue
    from ..reply import environment
    rules = _rules(contest)
    if not ActionForm().validate_on_submit():
        abort(400)
    config = console().config

    def sent(summary) -> str:
        skipped = "".join(f" {receipt}：{why}。" for receipt, why in summary.skipped)
        return (f"获奖通知已加入发件队列 {len(summary.queued)} 封（此前已发 {len(summary.already)} 封），"
                f"由发信程序陆续发出。{skipped}")
    return _done(lambda: queue(store(), rules, awards_rules().common, from_addr=config.smtp.from_addr,
                               actor=current_user.name, env=environment(config.smtp.templates_dir)),
                 sent, _to_allocation(contest))


@bp.route("/showcase", methods=["GET", "POST"])
@roles(*EXPORT)
def showcase():
    """The static showcase as a zip to download: the folder an organizer hands to whoever runs the website."""
    from ..awards import jury
    from ..awards.showcase import build
    awards = awards_rules()
    published = [(c, r.title) for c, r in awards.contests.items() if jury.is_published(store(), c)]
    form = ShowcaseForm()
    form.contests.choices = published
    if request.method == "GET" or not form.validate_on_submit():
        return render_template("awards/showcase.html", form=form, published=published)
    folder = Path(tempfile.mkdtemp(prefix="inbox-showcase-"))
    try:
        summary = build(store(), awards, _names(), folder / "成果展示", list(form.contests.data),
                        tuple(form.show.data), current_user.name)
        archive = folder / "showcase.zip"
        with zipfile.ZipFile(archive, "w") as bundle:
            for path in sorted((folder / "成果展示").rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    # Photos and videos are compressed already; only the page is worth deflating.
                    method = zipfile.ZIP_DEFLATED if path.suffix == ".html" else zipfile.ZIP_STORED
                    bundle.write(path, path.relative_to(folder), compress_type=method)
        handle = archive.open("rb")
    except InboxError as err:
        flash(str(err), "error")
        return redirect(url_for("awards.showcase"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the open handle keeps the zip readable until sent
    flash(f"成果展示已生成：{summary.works} 件作品。", "ok")
    return send_file(handle, mimetype="application/zip", as_attachment=True, download_name=f"成果展示-{_today()}.zip")


# -- popularity: the platforms' exports -----------------------------------------------------------------------

@bp.route("/stats")
@roles(*EXPORT)
def stats():
    from ..awards import popularity
    form = StatsForm()
    form.platform.choices = [(p, p) for p in awards_rules().common.platforms]
    rows = [{**r, "candidates": json.loads(r["candidates"] or "[]")} for r in popularity.open_rows(store())]
    return render_template("awards/stats.html", form=form, rows=rows,
                           imports=popularity.imports(store()), match=MatchForm())


def _uploaded(field, kind: str) -> Path:
    from ..awards import desk
    upload = field.data
    return desk.keep_upload(store(), iter(lambda: upload.stream.read(1 << 20), b""), upload.filename or "", kind)


@bp.route("/stats", methods=["POST"])
@roles(*EXPORT)
def import_stats():
    from ..awards import popularity
    from ..awards.desk import safe_name
    form = StatsForm()
    form.platform.choices = [(p, p) for p in awards_rules().common.platforms]
    if not form.validate_on_submit():
        flash(_form_errors(form), "error")
        return redirect(url_for("awards.stats"))
    try:
        path = _uploaded(form.sheet, "stats")
        summary = popularity.import_stats(store(), awards_rules().common, path, form.platform.data, current_user.name,
                                          filename=safe_name(form.sheet.data.filename))
    except InboxError as err:
        flash(str(err), "error")
        return redirect(url_for("awards.stats"))
    flash(f"已导入 {form.platform.data} 数据 {summary.rows} 行：匹配 {summary.matched} 行，有多个可能 "
          f"{summary.ambiguous} 行，未匹配 {summary.unmatched} 行。", "ok")
    for number, reason in summary.bad[:30]:
        flash(f"第 {number} 行：{reason}", "error")
    return redirect(url_for("awards.stats"))


@bp.route("/stats/<int:row_id>/match", methods=["POST"])
@roles(*EXPORT)
def match_row(row_id: int):
    from ..awards import popularity
    form = MatchForm()
    if not form.validate_on_submit():
        abort(400)
    receipt = (form.receipt.data or "").strip().upper() or None
    return _done(lambda: popularity.match_by_hand(store(), row_id, receipt, current_user.name),
                 f"数据行已{'匹配到 ' + receipt if receipt else '取消匹配'}。", url_for("awards.stats"))


# -- the reading challenge ----------------------------------------------------------------------------------

def _reading_rules():
    rules = awards_rules().reading
    if rules is None:
        abort(404)
    return rules


@bp.route("/reading")
@roles(*EXPORT)
def reading():
    from ..awards import desk, reading as challenge
    rules = _reading_rules()
    latest = desk.latest_reading(store())
    result = challenge.run(latest[1], rules) if latest else None
    return render_template("awards/reading.html", rules=rules, form=SheetForm(), latest=latest[0] if latest else None,
                           result=result)


@bp.route("/reading", methods=["POST"])
@roles(*EXPORT)
def upload_reading():
    from ..awards import desk
    rules = _reading_rules()
    form = SheetForm()
    if not form.validate_on_submit():
        flash(_form_errors(form), "error")
        return redirect(url_for("awards.reading"))
    try:
        path = _uploaded(form.sheet, "reading")
        result = desk.run_reading(store(), rules, path, form.sheet.data.filename or "", current_user.name)
    except InboxError as err:
        flash(str(err), "error")
        return redirect(url_for("awards.reading"))
    flash(f"已读取 {result.rows} 行，会员 {result.members} 人，有积分 {result.scored} 人，问题行 {len(result.bad_rows)} 行。",
          "ok" if not result.bad_rows else "error")
    return redirect(url_for("awards.reading"))


def _latest_result():
    from ..awards import desk, reading as challenge
    rules = _reading_rules()
    latest = desk.latest_reading(store())
    if latest is None:
        abort(404)
    return rules, challenge.run(latest[1], rules)


@bp.route("/reading/ranking.xlsx")
@roles(*EXPORT)
def reading_workbook():
    from ..awards.reading import result_workbook
    rules, result = _latest_result()
    return send_file(io.BytesIO(result_workbook(result, rules)), mimetype=XLSX, as_attachment=True,
                     download_name=f"阅读挑战赛积分排名-{_today()}.xlsx")


@bp.route("/reading/certificates.pdf")
@roles(*EXPORT)
def reading_certificates():
    from ..awards.certificates import write_pdf
    from ..awards.jury import log
    from ..awards.lists import challenge_winners
    rules, result = _latest_result()
    return _pdf(lambda target: write_pdf(challenge_winners(result, rules.title), awards_rules().common, rules.title, target),
                f"荣誉证书-{rules.title}.pdf",
                lambda pages: log(store(), current_user.name, "certificates", {"contest": "reading_challenge",
                                                                               "pages": pages}),
                url_for("awards.reading"))


# -- 优秀组织奖 ----------------------------------------------------------------------------------------------

@bp.route("/organization")
@roles(*EXPORT)
def organization():
    from ..awards.organization import facts, sheet, table
    headers, lines = sheet(table(facts(store()), awards_rules().common), _names())
    if request.args.get("format") == "xlsx":
        from ..awards.sheets import workbook_bytes
        return send_file(io.BytesIO(workbook_bytes([("优秀组织奖参考表", headers, lines)])), mimetype=XLSX,
                         as_attachment=True, download_name=f"优秀组织奖参考表-{_today()}.xlsx")
    return render_template("awards/organization.html", headers=headers, lines=lines)
