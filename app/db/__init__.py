"""The database: the engine (SQLite by default, PostgreSQL in production), the tables, migrations.

Owns: `engine` (one async API for both databases, read and write units of work), `models`
(SQLAlchemy tables with typed columns; `delivery`: providers' delivery events and the
suppression list; `workspace`: staff notes, macros and presence; `aftersale`: resolution
checks, follow-ups, unsubscribes), `text` (the text column
types that keep NUL and other control characters out), `errors` (an outage told apart from a
refused row), `statuses` (the stored status enums, free of SQL so every package can name them),
`migrate` and `migrations/` (Alembic).
May import: nothing of the app but `config`; every package that runs SQL imports this one.
"""
