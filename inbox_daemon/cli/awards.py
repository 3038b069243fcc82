"""Awards commands: what an organizer needs without the console (jury rounds, allocation, lists,
certificates, notices, showcase), plus the platforms' stats and the reading challenge imports."""

from __future__ import annotations

import getpass
from pathlib import Path

import click

from ..config import Config
from . import StaffError, main, open_store, with_config

BY = click.option("--by", "actor", default=None, help="操作人（记入处理记录，默认当前系统用户）")


def _actor(actor: str | None) -> str:
    return actor or f"cli:{getpass.getuser()}"


def _awards(config: Config):
    from ..awards.config import load_awards
    return load_awards(config.rules_dir)


def _contest_names(config: Config) -> dict[str, str]:
    from ..rules import load_rules
    return {cid: c.name for cid, c in load_rules(config.rules_dir).contests.items()}


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(data)
    partial.replace(path)


# -- imports ------------------------------------------------------------------------------------------

@main.command("import-stats")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--platform", required=True, help="数据来源平台：新娄底、湘工惠、风芒、视频号")
@BY
@with_config
def import_stats(config: Config, file: Path, platform: str, actor: str | None):
    """导入平台导出的播放量、点赞、转发、留言数据（.xlsx 或 .csv），匹配到作品。

    先按申报表中的 APP 账号匹配，再按作品名称和作者匹配；匹配不上或有多个可能的行留给工作人员手工匹配，不会丢弃。

    Example: inbox-daemon import-stats 新娄底导出.xlsx --platform 新娄底
    """
    from ..awards.popularity import import_stats as run_import
    with open_store(config) as store:
        summary = run_import(store, _awards(config).common, file, platform, _actor(actor))
        click.echo(f"已导入 {platform} 数据 {summary.rows} 行：匹配 {summary.matched} 行，"
                   f"有多个可能 {summary.ambiguous} 行，未匹配 {summary.unmatched} 行")
        for number, reason in summary.bad:
            click.echo(f"  第 {number} 行：{reason}")
        if summary.ambiguous or summary.unmatched:
            click.echo("待手工匹配的行见：inbox-daemon awards stats-open")


@main.command("reading-challenge")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="排名表 .xlsx（默认与输入文件同目录，文件名加“-积分排名”）")
@click.option("--certificates", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="同时生成获奖者荣誉证书 PDF")
@BY
@with_config
def reading_challenge(config: Config, file: Path, output: Path | None, certificates: Path | None, actor: str | None):
    """统计阅读挑战赛积分：按天累计时长、按档积分、只计活动时段，排出前 50 名及等次。

    无法识别的行（日期不对、时长为负、会员ID没有姓名……）列出行号和原因，不计入排名。

    Example: inbox-daemon reading-challenge 湘工惠阅读记录.xlsx -o 阅读挑战赛排名.xlsx
    """
    import hashlib

    from ..awards.jury import log
    from ..awards.reading import result_workbook, run
    awards = _awards(config)
    if awards.reading is None:
        raise StaffError(f"规则目录 {config.rules_dir} 中没有 reading_challenge.toml")
    rules = awards.reading
    result = run(file, rules)
    output = output or file.with_name(f"{file.stem}-积分排名.xlsx")
    _write(output, result_workbook(result, rules))
    with open_store(config) as store:
        log(store, _actor(actor), "reading_challenge", {
            "file": file.name, "sha256": hashlib.sha256(file.read_bytes()).hexdigest(), "rows": result.rows,
            "bad_rows": [b.row for b in result.bad_rows], "top": [p.member.member_id for p in result.ranking]})
    click.echo(f"读取 {result.rows} 行，会员 {result.members} 人，有积分 {result.scored} 人；"
               f"活动时段外的阅读 {result.outside_days} 天次未计入")
    for placed in result.ranking[:10]:
        m = placed.member
        click.echo(f"  第 {placed.place} 名 {placed.prize or ''} {m.name}（{m.member_id}，{m.unit}）{m.points} 分"
                   + ("  并列" if placed.tied else ""))
    if result.bad_rows:
        click.echo(f"问题行 {len(result.bad_rows)} 行（未计入排名）：")
        for bad in result.bad_rows:
            click.echo(f"  第 {bad.row} 行：{bad.reason}")
    click.echo(f"排名表已写入 {output}")
    if certificates:
        from ..awards.certificates import write_pdf
        from ..awards.lists import challenge_winners
        pages = write_pdf(challenge_winners(result, rules.title), awards.common, rules.title, certificates)
        click.echo(f"荣誉证书 {pages} 页已写入 {certificates}")


# -- the awards group -----------------------------------------------------------------------------------

@main.group()
def awards():
    """评审与奖项：评委、评审轮次、评分、奖项分配、公布、名单、证书、获奖通知、成果展示。

    Example: inbox-daemon awards progress micro_video
    """


@awards.command("juror")
@click.argument("contest")
@click.argument("username")
@click.option("--remove", is_flag=True, help="取消分配")
@BY
@with_config
def juror(config: Config, contest: str, username: str, remove: bool, actor: str | None):
    """把评委（控制台账号，角色 juror）分配到比赛，或取消分配。

    Example: inbox-daemon awards juror micro_video zhangsan
    """
    from ..awards import jury
    _awards(config).contest(contest)
    with open_store(config) as store:
        (jury.unassign if remove else jury.assign)(store, contest, username, _actor(actor))
        now = "、".join(jury.jurors(store, contest)) or "无"
        click.echo(f"{'已取消' if remove else '已分配'}评委 {username}：{contest}（现有评委：{now}）")


@awards.command("round")
@click.argument("action", type=click.Choice(["open", "close"]))
@click.argument("contest")
@click.option("--name", default="评审", show_default=True, help="轮次名称，如 初评、复评")
@BY
@with_config
def round_(config: Config, action: str, contest: str, name: str, actor: str | None):
    """开始或结束一个评审轮次；结束后评委不能再修改评分。

    Example: inbox-daemon awards round open micro_video --name 初评
    """
    from ..awards import jury
    _awards(config).contest(contest)
    with open_store(config) as store:
        if action == "open":
            pk = jury.open_round(store, contest, name, _actor(actor))
            click.echo(f"评审轮次“{name}”（编号 {pk}）已开始，参评作品 {len(jury.candidates(store, contest))} 件")
        else:
            pk = jury.close_round(store, contest, _actor(actor))
            click.echo(f"评审轮次 {pk} 已结束，评分已锁定")
            _print_progress(store, contest)


def _print_progress(store, contest: str) -> None:
    from ..awards import jury
    for p in jury.juror_progress(store, contest):
        state = "已完成" if p.complete else f"未完成，缺 {len(p.missing)} 件：{'、'.join(p.missing[:10])}"
        click.echo(f"  评委 {p.juror}：已评 {p.scored}/{p.assigned}，回避 {p.conflicts} 件，{state}")


@awards.command()
@click.argument("contest")
@with_config
def progress(config: Config, contest: str):
    """各评委的评分进度（已评/应评、回避、未评作品）。

    Example: inbox-daemon awards progress micro_video
    """
    from ..awards import jury
    _awards(config).contest(contest)
    with open_store(config) as store:
        found = jury.latest_round(store, contest)
        if not found:
            raise StaffError(f"{contest} 还没有评审轮次")
        click.echo(f"轮次“{found['name']}”：{'进行中' if not found['closed_at'] else '已结束'}")
        _print_progress(store, contest)


@awards.command()
@click.argument("contest")
@click.argument("receipt")
@click.option("--juror", "juror_name", required=True, help="评委账号")
@click.option("--points", required=True, help="各项评分，按规则顺序用逗号分隔，如 35,25,20")
@click.option("--comment", default="", help="评语")
@with_config
def score(config: Config, contest: str, receipt: str, juror_name: str, points: str, comment: str):
    """录入（或修改）一位评委对一件作品的评分，用于纸质评分表的录入。

    Example: inbox-daemon awards score micro_video WSP-2022-0001 --juror zhangsan --points 35,25,20
    """
    from ..awards import jury
    rules = _awards(config).contest(contest)
    try:
        values = [float(p) for p in points.replace("，", ",").split(",")]
    except ValueError as err:
        raise StaffError(f"评分必须是数字：{points}") from err
    with open_store(config) as store:
        total = jury.record_score(store, rules, receipt, juror_name, values, comment)
        click.echo(f"已记录 {juror_name} 对 {receipt} 的评分，合计 {total:g} 分")


@awards.command()
@click.argument("contest")
@click.argument("receipt")
@click.option("--juror", "juror_name", required=True, help="评委账号")
@click.option("--reason", required=True, help="回避理由，如 同单位、亲属")
@with_config
def conflict(config: Config, contest: str, receipt: str, juror_name: str, reason: str):
    """登记评委回避：该评委不对这件作品评分（已评的分数撤销）。

    Example: inbox-daemon awards conflict micro_video WSP-2022-0003 --juror zhangsan --reason 同单位
    """
    from ..awards import jury
    _awards(config).contest(contest)
    with open_store(config) as store:
        jury.declare_conflict(store, contest, receipt, juror_name, reason)
        click.echo(f"已登记：{juror_name} 回避 {receipt}（{reason}）")


@awards.command()
@click.argument("contest")
@with_config
def ranking(config: Config, contest: str):
    """评审排名：平均分（5 份及以上评分去掉一个最高分和一个最低分）、人气，以及评分不足的作品。

    Example: inbox-daemon awards ranking micro_video
    """
    from ..awards import jury, popularity
    rules = _awards(config).contest(contest)
    with open_store(config) as store:
        liked = popularity.points(store, rules)
        for r in jury.ranking(store, rules):
            totals = "、".join(f"{t:g}" for t in r.totals)
            pop = f"  人气 {liked[r.receipt]:g}" if r.receipt in liked else ""
            if r.rank is None:
                click.echo(f"  —  {r.receipt}  未排名：{r.flag}（{totals or '无评分'}）{pop}")
            else:
                how = "去掉最高最低分后" if r.trimmed else ""
                click.echo(f"  {r.rank:>3}  {r.receipt}  {how}平均 {r.score:.2f}（{totals}）{pop}")


def _print_allocation(found, store, rules) -> None:
    from ..awards.results import winners
    for w in winners(store, rules):
        click.echo(f"  {w.number:>3}  {w.prize}  {w.receipt}  《{w.work}》  {w.name}  {w.unit}")
    for prize, left in found.open_places.items():
        click.echo(f"  {prize}：还有 {left} 个名额空缺")
    for prize, shortlist in found.shortlists.items():
        click.echo(f"  {prize} 推荐名单：{'、'.join(shortlist) or '无'}")
    for note in found.notes:
        click.echo(f"  注意：{note}")


@awards.command()
@click.argument("contest")
@BY
@with_config
def allocate(config: Config, contest: str, actor: str | None):
    """按规则的奖项顺序和名额分配奖项（不重复设奖），保存为草稿。

    Example: inbox-daemon awards allocate micro_video
    """
    from ..awards import results
    rules = _awards(config).contest(contest)
    with open_store(config) as store:
        _print_allocation(results.save(store, rules, _actor(actor)), store, rules)


@awards.command()
@click.argument("contest")
@click.argument("prize")
@click.argument("receipts", nargs=-1, required=True)
@BY
@with_config
def choose(config: Config, contest: str, prize: str, receipts: tuple[str, ...], actor: str | None):
    """从推荐名单中选定单项奖（如 最佳剧本奖）的获奖作品。

    Example: inbox-daemon awards choose micro_video 最佳剧本奖 WSP-2022-0012
    """
    from ..awards import results
    rules = _awards(config).contest(contest)
    with open_store(config) as store:
        _print_allocation(results.choose(store, rules, prize, list(receipts), _actor(actor)), store, rules)


@awards.command()
@click.argument("contest")
@click.argument("receipt")
@click.option("--prize", default=None, help="改为该奖项")
@click.option("--remove", is_flag=True, help="取消该作品的奖项")
@click.option("--reason", required=True, help="调整理由（必填，记入处理记录）")
@BY
@with_config
def adjust(config: Config, contest: str, receipt: str, prize: str | None, remove: bool, reason: str,
           actor: str | None):
    """组委会调整奖项（必须填写理由）；一件作品最多获一个奖项。

    Example: inbox-daemon awards adjust micro_video WSP-2022-0007 --prize 二等奖 --reason "评委会复议"
    """
    from ..awards import results
    if bool(prize) == remove:
        raise StaffError("请选择 --prize 奖项 或 --remove 之一")
    rules = _awards(config).contest(contest)
    with open_store(config) as store:
        _print_allocation(results.change(store, rules, receipt, prize, reason, _actor(actor)), store, rules)


@awards.command()
@click.argument("contest")
@BY
@with_config
def publish(config: Config, contest: str, actor: str | None):
    """公布获奖名单；公布后评分和奖项冻结，不能再修改。

    Example: inbox-daemon awards publish micro_video
    """
    from ..awards import results
    rules = _awards(config).contest(contest)
    with open_store(config) as store:
        count = results.publish(store, rules, _actor(actor))
        click.echo(f"{rules.title}：获奖名单（{count} 件）已公布，评分和奖项已冻结")


@awards.command("list")
@click.argument("contest")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="输出 .xlsx（默认 获奖名单-<比赛>.xlsx）")
@with_config
def list_(config: Config, contest: str, output: Path | None):
    """导出获奖名单 .xlsx（序号、奖项、作品名称、作者/团队、单位、联系电话、回执号）。

    Example: inbox-daemon awards list micro_video -o 微视频获奖名单.xlsx
    """
    from ..awards.lists import award_list
    from ..awards.results import winners
    rules = _awards(config).contest(contest)
    with open_store(config) as store:
        found = winners(store, rules)
    if not found:
        raise StaffError("还没有分配奖项：inbox-daemon awards allocate " + contest)
    output = output or Path(f"获奖名单-{contest}.xlsx")
    _write(output, award_list(rules.title, found))
    click.echo(f"获奖名单 {len(found)} 件已写入 {output}")


@awards.command()
@click.argument("contest")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="输出 PDF（默认 荣誉证书-<比赛>.pdf）")
@BY
@with_config
def certificates(config: Config, contest: str, output: Path | None, actor: str | None):
    """生成荣誉证书 PDF：每位获奖者一页 A4 横版，内嵌中文字体，可直接打印。

    Example: inbox-daemon awards certificates micro_video -o 微视频荣誉证书.pdf
    """
    from ..awards.certificates import write_pdf
    from ..awards.jury import is_published, log
    from ..awards.results import winners
    awards_rules = _awards(config)
    rules = awards_rules.contest(contest)
    with open_store(config) as store:
        if not is_published(store, contest):
            raise StaffError("获奖名单公布后才能打印证书：inbox-daemon awards publish " + contest)
        found = winners(store, rules)
        output = output or Path(f"荣誉证书-{contest}.pdf")
        pages = write_pdf(found, awards_rules.common, rules.title, output)
        log(store, _actor(actor), "certificates", {"contest": contest, "pages": pages, "file": str(output)})
    click.echo(f"荣誉证书 {pages} 页已写入 {output}")


@awards.command()
@click.argument("contest")
@click.option("--send", is_flag=True, help="确认发送（不加此项只列出将通知谁）")
@BY
@with_config
def notices(config: Config, contest: str, send: bool, actor: str | None):
    """给已公布名单的获奖者发获奖通知邮件（经发件队列，每人只发一次）。

    Example: inbox-daemon awards notices micro_video --send
    """
    from ..awards.results import winners
    awards_rules = _awards(config)
    rules = awards_rules.contest(contest)
    with open_store(config) as store:
        if not send:
            for w in winners(store, rules):
                click.echo(f"  {w.prize}  {w.receipt}  {w.name}  {w.email or '（无可用邮箱）'}")
            click.echo("以上为将通知的获奖者；确认后加 --send 发送")
            return
        from ..awards.notices import queue
        from ..reply import environment
        from ..send import drain
        summary = queue(store, rules, awards_rules.common, from_addr=config.smtp.from_addr, actor=_actor(actor),
                        env=environment(config.smtp.templates_dir))
        sent = drain(store, config.smtp)
    click.echo(f"获奖通知：新加入发件队列 {len(summary.queued)} 封，此前已发 {len(summary.already)} 封；"
               f"本次发出 {sent.sent} 封，稍后重试 {sent.retried} 封，失败 {sent.failed} 封")
    for receipt, why in summary.skipped:
        click.echo(f"  未发送 {receipt}：{why}")


@awards.command()
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@click.option("--contest", "contests", multiple=True, help="只展示这些比赛（默认所有已公布的）")
@click.option("--show", multiple=True, type=click.Choice(["bio", "description", "track", "shot_time", "shot_place"]),
              help="另外展示的信息（电话、邮箱一律不展示）")
@BY
@with_config
def showcase(config: Config, target: Path, contests: tuple[str, ...], show: tuple[str, ...], actor: str | None):
    """生成成果展示静态网站（一个文件夹：网页、缩略图、照片和视频），可直接打开或放到任何网站服务器。

    Example: inbox-daemon awards showcase 成果展示 --show track
    """
    from ..awards.showcase import build
    with open_store(config) as store:
        summary = build(store, _awards(config), _contest_names(config), target, list(contests), show, _actor(actor))
    click.echo(f"成果展示已生成：{summary.works} 件作品，照片 {summary.images} 张，视频 {summary.videos} 个 —— "
               f"打开 {summary.path / 'index.html'}")


@awards.command("stats-open")
@with_config
def stats_open(config: Config):
    """列出待手工匹配的人气数据行（未匹配、有多个可能）。

    Example: inbox-daemon awards stats-open
    """
    import json

    from ..awards.popularity import open_rows
    with open_store(config) as store:
        rows = open_rows(store)
    if not rows:
        click.echo("没有待匹配的数据行。")
    labels = {"unmatched": "未匹配", "ambiguous": "有多个可能"}
    for r in rows:
        candidates = "、".join(json.loads(r["candidates"] or "[]"))
        click.echo(f"  编号 {r['id']}  {r['platform']} 第 {r['row_number']} 行  {labels[r['status']]}  "
                   f"《{r['title']}》 {r['account'] or ''} {r['author'] or ''}" + (f"  可能是：{candidates}" if candidates else ""))


@awards.command("stats-match")
@click.argument("row_id", type=int)
@click.argument("receipt", required=False)
@BY
@with_config
def stats_match(config: Config, row_id: int, receipt: str | None, actor: str | None):
    """把一行人气数据手工匹配到作品（不给回执号则取消匹配）。

    Example: inbox-daemon awards stats-match 17 WSP-2022-0012
    """
    from ..awards.popularity import match_by_hand
    with open_store(config) as store:
        match_by_hand(store, row_id, receipt, _actor(actor))
    click.echo(f"数据行 {row_id} 已{'匹配到 ' + receipt if receipt else '取消匹配'}")


@awards.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("优秀组织奖参考表.xlsx"),
              show_default=True)
@with_config
def organization(config: Config, output: Path):
    """优秀组织奖参考表：各单位投稿数、通过数、涉及比赛、活动信息报送及是否按时。

    Example: inbox-daemon awards organization -o 优秀组织奖参考表.xlsx
    """
    from ..awards.organization import facts, sheet, table
    from ..awards.sheets import workbook_bytes
    with open_store(config) as store:
        rows = table(facts(store), _awards(config).common)
    headers, lines = sheet(rows, _contest_names(config))
    _write(output, workbook_bytes([("优秀组织奖参考表", headers, lines)]))
    click.echo(f"优秀组织奖参考表（{len(lines)} 个单位）已写入 {output}")
