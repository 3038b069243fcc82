"""Jury, allocation and popularity: who judges which contest, rounds, scores, conflicts, awards and the
platforms' counts.

Users are console accounts referenced by username (the accounts table is the console's). A published
contest freezes its scores and awards in the database itself: triggers refuse any later change, so
no code path, old or new, can alter a published result.
"""

from __future__ import annotations

FROZEN = "EXISTS (SELECT 1 FROM award_publications p WHERE p.contest = {contest})"


def up(db) -> None:
    db["award_jurors"].create({"contest": str, "juror": str, "actor": str, "at": str}, pk=("contest", "juror"))
    db["award_jurors"].create_index(["juror"])
    db["award_rounds"].create({"id": int, "contest": str, "name": str, "opened_by": str, "opened_at": str,
                               "closed_by": str, "closed_at": str}, pk="id", not_null={"contest", "name"})
    db["award_rounds"].create_index(["contest"])
    # At most one open round per contest.
    db.execute("CREATE UNIQUE INDEX award_rounds_one_open ON award_rounds(contest) WHERE closed_at IS NULL")
    db["award_numbers"].create({"contest": str, "receipt": str, "number": int}, pk=("contest", "receipt"))
    db["award_numbers"].create_index(["contest", "number"], unique=True)
    db["award_scores"].create({"round": int, "receipt": str, "juror": str, "points": str, "total": float,
                               "comment": str, "at": str}, pk=("round", "receipt", "juror"),
                              foreign_keys=[("round", "award_rounds", "id")])
    db["award_scores"].create_index(["receipt"])
    db["award_conflicts"].create({"contest": str, "receipt": str, "juror": str, "reason": str, "at": str},
                                 pk=("contest", "receipt", "juror"))
    db["award_choices"].create({"contest": str, "prize": str, "receipt": str, "actor": str, "at": str},
                               pk=("contest", "prize", "receipt"))
    db["award_adjustments"].create({"id": int, "contest": str, "receipt": str, "prize": str, "reason": str,
                                    "actor": str, "at": str}, pk="id", not_null={"reason"})
    db["award_adjustments"].create_index(["contest"])
    # One award per entry at most ("以上各奖项不重复设奖"): the receipt is the key.
    db["award_results"].create({"receipt": str, "contest": str, "prize": str, "by": str, "place": int,
                                "reason": str, "at": str}, pk="receipt", not_null={"contest", "prize"})
    db["award_results"].create_index(["contest"])
    db["award_publications"].create({"contest": str, "round": int, "actor": str, "at": str, "snapshot": str},
                                    pk="contest")
    db["stat_imports"].create({"id": int, "platform": str, "filename": str, "sha256": str, "rows": int,
                               "actor": str, "at": str}, pk="id")
    db["stat_rows"].create({"id": int, "import": int, "row_number": int, "title": str, "account": str,
                            "author": str, "link": str, "plays": float, "likes": float, "shares": float,
                            "comments": float, "status": str, "receipt": str, "candidates": str,
                            "matched_by": str, "matched_at": str}, pk="id",
                           foreign_keys=[("import", "stat_imports", "id")])
    db["stat_rows"].create_index(["import"])
    db["stat_rows"].create_index(["receipt"])
    for table, contest in (("award_scores", "(SELECT r.contest FROM award_rounds r WHERE r.id = {row}.round)"),
                           ("award_results", "{row}.contest"), ("award_choices", "{row}.contest"),
                           ("award_adjustments", "{row}.contest"), ("award_conflicts", "{row}.contest")):
        for event, row in (("INSERT", "NEW"), ("UPDATE", "OLD"), ("DELETE", "OLD")):
            db.execute(f"CREATE TRIGGER {table}_frozen_{event.lower()} BEFORE {event} ON {table} "
                       f"WHEN {FROZEN.format(contest=contest.format(row=row))} "
                       f"BEGIN SELECT RAISE(ABORT, 'published: awards are frozen'); END")
