"""Schema migrations, applied once each in name order by `db.migrate()`.

Names: m0001-m0099 the register and outbox, m0100-m0199 the console, m0200-m0299 awards,
m0300-m0399 operations. Each module has `up(db)`; it runs inside a write transaction.
"""
