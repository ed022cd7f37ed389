"""`make shopify-schema`: the refresh script, offline, over a tarball shaped like npm's."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.store.schema import refresh

INTROSPECTION = {"data": {"__schema": {"types": [{"kind": "OBJECT", "name": "QueryRoot"}]}}}


def tarball(directory: Path, files: dict[str, bytes]) -> Path:
    """A `npm pack` tarball: every file under `package/`, with a package.json."""
    path = directory / "shopify-dev-mcp-9.9.9.tgz"
    files = {"package.json": json.dumps({"version": "9.9.9"}).encode(), **files}
    with tarfile.open(path, "w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture
def packed(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """The files the fake `npm pack` puts in its tarball (the test fills it in)."""
    files: dict[str, bytes] = {}
    monkeypatch.setattr(refresh, "pack", lambda package, into: tarball(into, files))
    return files


def schema_bytes() -> bytes:
    return gzip.compress(json.dumps(INTROSPECTION).encode())


def test_the_default_version_is_the_settings_default() -> None:
    assert refresh.default_version() == "2026-10"


def test_refresh_keeps_the_versions_file_and_writes_its_source(
    packed: dict[str, bytes], tmp_path: Path
) -> None:
    packed["dist/data/admin_2099-01.json.gz"] = schema_bytes()
    packed["dist/data/admin_2098-10.json.gz"] = schema_bytes()
    (tmp_path / "admin_2098-10.json.gz").write_bytes(b"the old version")

    target = refresh.refresh("2099-01", into=tmp_path)

    assert target == tmp_path / "admin_2099-01.json.gz"
    assert target.read_bytes() == schema_bytes()
    assert sorted(p.name for p in tmp_path.glob("admin_*")) == ["admin_2099-01.json.gz"]
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "API version 2099-01" in readme
    assert "`@shopify/dev-mcp` version 9.9.9" in readme
    assert "`package/dist/data/admin_2099-01.json.gz`" in readme


def test_a_missing_version_fails_loudly_and_changes_nothing(
    packed: dict[str, bytes], tmp_path: Path
) -> None:
    packed["dist/data/admin_2098-10.json.gz"] = schema_bytes()
    (tmp_path / "admin_2098-10.json.gz").write_bytes(b"kept")

    with pytest.raises(refresh.RefreshError, match="no dist/data/admin_2099-01.json.gz.*2098-10"):
        refresh.refresh("2099-01", into=tmp_path)

    assert [p.name for p in tmp_path.iterdir()] == ["admin_2098-10.json.gz"]


def test_main_reports_a_failure_on_stderr_with_a_nonzero_exit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(version: str, package: str) -> Path:
        raise refresh.RefreshError(f"no admin_{version}.json.gz in {package}")

    monkeypatch.setattr(refresh, "refresh", fail)

    assert refresh.main(["2099-01"]) == 1
    assert capsys.readouterr().err == (
        "shopify-schema: no admin_2099-01.json.gz in @shopify/dev-mcp\n"
    )


@pytest.mark.parametrize(
    "content", [b"not gzip", gzip.compress(b"{}"), gzip.compress(b'{"data": {"__schema": {}}}')]
)
def test_a_file_that_is_not_an_admin_schema_is_refused(
    packed: dict[str, bytes], tmp_path: Path, content: bytes
) -> None:
    packed["dist/data/admin_2099-01.json.gz"] = content

    with pytest.raises(refresh.RefreshError, match="introspection"):
        refresh.refresh("2099-01", into=tmp_path)

    assert list(tmp_path.iterdir()) == []


def test_a_version_that_is_not_a_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(refresh.RefreshError, match="YYYY-MM"):
        refresh.refresh("../../etc", into=tmp_path)
