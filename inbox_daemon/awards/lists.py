"""Award lists as organizers hand them on: one .xlsx per list, the notice's columns, text cells only."""

from __future__ import annotations

from .reading import ChallengeResult
from .results import Winner
from .sheets import workbook_bytes

HEADERS = ["序号", "奖项", "作品名称", "作者/团队", "单位", "联系电话", "回执号"]
CHALLENGE_HEADERS = ["序号", "奖项", "姓名", "所属工会/单位", "会员ID", "积分"]


def award_list(title: str, winners: list[Winner]) -> bytes:
    rows = [[w.number, w.prize, w.work, w.name, w.unit, w.phone, w.receipt] for w in winners]
    return workbook_bytes([(title, HEADERS, rows)])


def challenge_winners(result: ChallengeResult, contest_title: str) -> list[Winner]:
    """The reading challenge's prize winners as list lines and certificates (no work, the member id)."""
    placed = [p for p in result.ranking if p.prize]
    return [Winner(i, p.prize, p.member.name, "", p.member.unit, "", p.member.member_id, contest_title)
            for i, p in enumerate(placed, 1)]
