"""Bringing a database's schema to the latest Alembic revision, from code or the CLI."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from app.db.engine import Database, normalise_database_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    """Return an Alembic config pointing at the bundled migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if database_url:
        url = normalise_database_url(database_url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade_database(db: Database, revision: str = "head") -> None:
    """Apply migrations up to `revision` on the given database."""

    def _upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    # Not `begin()`: the migration environment opens the transaction itself, after what must
    # be set outside one (see `migrations/env.py`).
    async with db.engine.connect() as connection:
        await connection.run_sync(_upgrade)
