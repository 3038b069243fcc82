"""The done-folder journal: a copy to the done folder is recorded as started before the COPY (or
MOVE) is sent and as finished after, so a crash or a dropped connection in between is resolved by
looking for the copy instead of copying again."""

from __future__ import annotations


def up(db) -> None:
    db["locations"].add_column("copy_state", str)  # NULL, 'copying' (outcome unknown) or 'copied'
    db["locations"].add_column("copied_uid", str)  # the copy's UID in the done folder, from COPYUID
