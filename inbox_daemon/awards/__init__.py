"""From accepted entries to awards: jury scoring, popularity, the reading challenge, allocation,
award lists, certificates, winner notices and the showcase.

A library with thin faces: the CLI (`cli/awards.py`) and the console call these modules and hold
no logic of their own. Pure modules (`scoring`, `allocation`, `reading`, `blind`, `organization`)
sit between the I/O edges (`jury`, `results`, `popularity` write the database; `lists`,
`certificates`, `showcase`, `notices` write files and mail).
"""

from ..errors import InboxError


class AwardsError(InboxError):
    """An awards action that cannot be done as asked (a closed round, a published list, a bad score)."""
