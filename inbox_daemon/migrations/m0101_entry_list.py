"""`entry_list`: one row per entry in its current state (and one per message that never got a
receipt: ignored mail, errors, mail set aside unread), kept up to date by triggers on `messages`.

Why: an entry's current state is "the latest judged message of its receipt", a GROUP BY over every
message. The console's list and counts must not scan 20,000 entries for each page, so the answer is
kept in a table with indexes, rewritten by SQLite itself whenever any process (daemon, console,
staff command) changes a message. The selection is the same as `register.JUDGED_ENTRY`; a test
compares this table with `register.entries()` after real passes.
"""

from __future__ import annotations

JUDGED = ("outcome IN ('accepted','rejected','needs_review') "
          "AND (duplicate_of IS NULL OR duplicate_of <> receipt)")


def _field(name: str) -> str:
    return f"json_extract(CASE WHEN json_valid(m.fields) THEN m.fields END, '$.{name}')"


VIEW = f"""
CREATE VIEW entry_list_rows AS SELECT
  COALESCE(m.receipt, '#' || m.id) AS key, m.receipt AS receipt, m.id AS message, m.contest AS contest,
  m.outcome AS outcome, m.mailbox AS mailbox, m.sender AS sender, m.sender_name AS sender_name,
  m.subject AS subject, {_field('title')} AS title,
  COALESCE({_field('author')}, {_field('team')}, {_field('manager')}) AS author,
  {_field('unit')} AS unit, {_field('phone')} AS phone, {_field('track')} AS track,
  m.received_at AS received_at,
  CASE WHEN m.receipt IS NULL THEN m.received_at
       ELSE (SELECT MIN(f.received_at) FROM messages f WHERE f.receipt = m.receipt) END AS first_received,
  (m.links IS NOT NULL AND m.links NOT IN ('', '[]')) AS has_link,
  ' ' || COALESCE((SELECT group_concat(json_extract(value, '$.id'), ' ')
                   FROM json_each(CASE WHEN json_valid(m.rules) THEN m.rules END)), '') || ' ' AS rule_ids
FROM messages m
"""


def _refresh(receipt: str) -> str:
    """The entry's latest judged message; an entry whose only message failed shows as that error."""
    return (f"INSERT OR REPLACE INTO entry_list SELECT * FROM entry_list_rows WHERE message = COALESCE("
            f"(SELECT MAX(id) FROM messages WHERE receipt = {receipt} AND {JUDGED}), "
            f"(SELECT MAX(id) FROM messages WHERE receipt = {receipt} AND outcome = 'error'));")


# Mail that never got a receipt: ignored, failed, or set aside for staff unread (needs_review).
UNRECEIPTED_OUTCOMES = "('ignored','error','needs_review')"
UNRECEIPTED = ("INSERT OR REPLACE INTO entry_list SELECT * FROM entry_list_rows "
               f"WHERE message = NEW.id AND receipt IS NULL AND outcome IN {UNRECEIPTED_OUTCOMES};")

TRIGGERS = [
    f"""CREATE TRIGGER entry_list_on_update
AFTER UPDATE OF outcome, receipt, contest, fields, rules, duplicate_of, links, sender, subject ON messages
BEGIN
  DELETE FROM entry_list WHERE key IN ('#' || NEW.id, OLD.receipt, NEW.receipt);
  {_refresh('OLD.receipt')}
  {_refresh('NEW.receipt')}
  {UNRECEIPTED}
END""",
    f"""CREATE TRIGGER entry_list_on_insert AFTER INSERT ON messages
BEGIN
  DELETE FROM entry_list WHERE key = NEW.receipt;
  {_refresh('NEW.receipt')}
  {UNRECEIPTED}
END""",
]


def up(db) -> None:
    db.execute("""CREATE TABLE entry_list (
      key TEXT PRIMARY KEY, receipt TEXT, message INTEGER NOT NULL, contest TEXT, outcome TEXT, mailbox TEXT,
      sender TEXT, sender_name TEXT, subject TEXT, title TEXT, author TEXT, unit TEXT, phone TEXT, track TEXT,
      received_at TEXT, first_received TEXT, has_link INTEGER, rule_ids TEXT)""")
    # (…, first_received, key): a page in the list's default order is read straight off an index.
    for columns in (("first_received", "key"), ("contest", "first_received", "key"),
                    ("contest", "outcome", "first_received", "key"),
                    ("outcome", "first_received", "key"), ("mailbox", "first_received", "key"), ("message",)):
        db.execute(f"CREATE INDEX entry_list_{'_'.join(columns)} ON entry_list ({', '.join(columns)})")
    db.execute(VIEW)
    for trigger in TRIGGERS:
        db.execute(trigger)
    db.execute("INSERT OR REPLACE INTO entry_list SELECT * FROM entry_list_rows "
               f"WHERE outcome = 'error' OR (receipt IS NULL AND outcome IN {UNRECEIPTED_OUTCOMES})")
    db.execute(f"INSERT OR REPLACE INTO entry_list SELECT * FROM entry_list_rows WHERE message IN "
               f"(SELECT MAX(id) FROM messages WHERE receipt IS NOT NULL AND {JUDGED} GROUP BY receipt)")
