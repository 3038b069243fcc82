"""荣誉证书: one print-ready PDF per award list, one A4 landscape page per winner.

WeasyPrint lays the pages out from a jinja2 template (`templates/award_certificate.html`) and embeds
the subset of the CJK font it uses (Debian's fonts-noto-cjk, named in the rules), so the file prints
the same on any machine. The wording, organizers and date are data in the rules.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

from ..reply import environment
from . import AwardsError
from .config import Common
from .results import Winner

log = logging.getLogger(__name__)


def check_font(family: str) -> None:
    """Fail clearly when the CJK font is missing: WeasyPrint would silently print empty boxes."""
    if not shutil.which("fc-match"):
        return
    found = subprocess.run(["fc-match", "-f", "%{family}", family], capture_output=True, text=True, timeout=30).stdout
    if family.lower() not in found.lower():
        raise AwardsError(f"缺少证书字体“{family}”，请安装：apt-get install fonts-noto-cjk（找到的是 {found or '无'}）")


def lines(text: str, winner: Winner) -> list[str]:
    return text.format(name=winner.name, work=winner.work, contest=winner.contest, award=winner.prize).split("\n")


def render_html(winners: list[Winner], common: Common, title: str) -> str:
    pages = [{"winner": w, "lines": lines(common.certificate_text if w.work else common.certificate_text_no_work, w)}
             for w in winners]
    return environment().get_template("award_certificate.html").render(
        title=title, pages=pages, heading=common.certificate_heading, organizers=common.organizers,
        date=common.certificate_date, font=common.font)


def write_pdf(winners: list[Winner], common: Common, title: str, target: Path) -> int:
    """Write the list's certificates to `target` (temp file, then rename); returns the page count."""
    from weasyprint import HTML

    if not winners:
        raise AwardsError("名单为空，没有可打印的证书")
    check_font(common.font)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    document = HTML(string=render_html(winners, common, title)).render()
    if len(document.pages) != len(winners):
        raise AwardsError(f"证书排版出错：{len(winners)} 位获奖者排成了 {len(document.pages)} 页（文字过长？）")
    partial = target.with_name(f".{target.name}.part")
    document.write_pdf(partial)
    partial.replace(target)
    log.info("certificates written: %s (%d pages)", target, len(winners))
    return len(document.pages)
