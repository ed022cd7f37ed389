"""Help articles from a folder of Markdown files with YAML front matter.

    ---
    title: Gift wrapping
    url: https://shop.example/pages/gift-wrapping
    language: en
    tags: [gifts, wrapping]
    ---
    Every order can be gift wrapped...

`title` is required (the first `# heading` stands in when the front matter has none); `url`
must be an http(s) address; `language` is a tag like `en` or `fa`; `tags` a list of words. A
file whose front matter cannot be read is reported by name and skipped: the other files are
imported, and what was imported from it before is kept.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from app.db.statuses import KnowledgeSource
from app.store.knowledge.articles import ArticleDraft, SourceRead

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_TITLE = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.M)
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
MAX_FILE_BYTES = 1_000_000


class FrontMatterError(ValueError):
    """A file's front matter is missing what it needs or is not valid YAML."""


def read_folder(folder: Path) -> SourceRead:
    """Every `*.md` file under `folder` (sorted), as articles keyed by their relative path."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    read = SourceRead(source=KnowledgeSource.MARKDOWN)
    for path in sorted(folder.rglob("*.md")):
        key = path.relative_to(folder).as_posix()
        try:
            read.articles.append(read_file(path, key=key))
        except (FrontMatterError, UnicodeDecodeError, OSError) as exc:
            read.problems[key] = str(exc)
    return read


def read_file(path: Path, *, key: str) -> ArticleDraft:
    """One Markdown file as an article. Raises `FrontMatterError` with what is wrong."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise FrontMatterError(f"larger than {MAX_FILE_BYTES} bytes")
    text = path.read_text(encoding="utf-8-sig")
    meta, body = parse(text)
    updated = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return article_from(meta, body, key=key, updated_at=updated)


def parse(text: str) -> tuple[dict[str, Any], str]:
    """The front matter (empty when there is none) and the body after it."""
    found = _FRONT_MATTER.match(text)
    if found is None:
        if text.startswith("---"):
            raise FrontMatterError("front matter is not closed by a line of ---")
        return {}, text
    try:
        meta = yaml.safe_load(found.group(1))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 2})" if where is not None else ""
        raise FrontMatterError(f"front matter is not valid YAML{line}") from exc
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise FrontMatterError("front matter must be a mapping of fields (title: ...)")
    return meta, text[found.end() :]


def article_from(
    meta: dict[str, Any], body: str, *, key: str, updated_at: datetime
) -> ArticleDraft:
    """Check the fields and build the article."""
    unknown = set(meta) - {"title", "url", "language", "tags"}
    if unknown:
        raise FrontMatterError(f"unknown front matter field(s): {', '.join(sorted(unknown))}")
    title = meta.get("title")
    if title is None:
        heading = _TITLE.search(body)
        title = heading.group(1) if heading else None
    if not isinstance(title, str) or not title.strip():
        raise FrontMatterError("no title: give `title:` in the front matter")
    url = meta.get("url")
    if url is not None and (not isinstance(url, str) or not re.match(r"https?://\S+$", url)):
        raise FrontMatterError("`url` must be an http:// or https:// address")
    language = meta.get("language", "")
    if not isinstance(language, str) or (language and not _LANGUAGE.match(language)):
        raise FrontMatterError("`language` must be a language tag such as en or fa")
    tags = meta.get("tags", [])
    if isinstance(tags, str):
        tags = [tag.strip() for tag in tags.split(",")]
    if not isinstance(tags, list) or not all(isinstance(tag, str | int) for tag in tags):
        raise FrontMatterError("`tags` must be a list of words")
    if not body.strip():
        raise FrontMatterError("the article has no text")
    return ArticleDraft(
        source=KnowledgeSource.MARKDOWN,
        source_key=key,
        title=title.strip()[:300],
        body=body.strip(),
        url=url,
        language=language.replace("_", "-").lower(),
        tags=tuple(str(tag).strip() for tag in tags if str(tag).strip()),
        updated_at=updated_at,
    )
