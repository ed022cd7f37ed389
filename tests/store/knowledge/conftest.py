"""Fixtures: a second store beside the default one, and a folder to write Markdown into."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.db.engine import Database
from app.db.models import Store
from app.db.scope import ALL_STORES

SECOND_STORE = 2


@pytest.fixture
async def second_store(db: Database) -> Database:
    """The database with a second store (id 2); returns a handle scoped to it."""
    async with db.write(ALL_STORES) as session:
        session.add(Store(slug="second", name="Second", support_email="help@second.test"))
    return db.for_store(SECOND_STORE)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "knowledge"
    path.mkdir()
    return path


def write(folder: Path, name: str, text: str) -> Path:
    """Write one Markdown file (folders created as needed)."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def article(title: str, body: str, *, url: str | None = None, language: str = "en") -> str:
    """A Markdown file with front matter."""
    link = f"url: {url}\n" if url else ""
    return f"---\ntitle: {title}\n{link}language: {language}\ntags: [help]\n---\n{body}\n"
