"""Refresh the Admin GraphQL schema the query tests validate against (`make shopify-schema`).

Shopify publishes the introspection result of every supported Admin API version in its npm
package `@shopify/dev-mcp`, as `dist/data/admin_<version>.json.gz`. This packs that package
into a temporary directory with `npm pack`, extracts the file for the version asked (by default
the `SHOPIFY_API_VERSION` default in `app/config.py`), checks that it is an introspection result,
keeps it here as `admin_<version>.json.gz` (removing any other version's file) and rewrites
README.md with its source. It fails loudly, changing nothing, when the version is missing.

    python -m tests.store.schema.refresh [VERSION] [--package @shopify/dev-mcp@1.16.0]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from app.config import Settings

HERE = Path(__file__).parent
PACKAGE = "@shopify/dev-mcp"
VERSION = re.compile(r"\d{4}-\d{2}|unstable")

README = """\
# Shopify Admin GraphQL schema, API version {version}

`admin_{version}.json.gz` is the introspection result of Shopify's Admin GraphQL API, version
{version} (the `SHOPIFY_API_VERSION` the service pins). `tests/store/shopify/test_queries.py`
builds a client schema from it with graphql-core and validates every GraphQL document the
service sends against it, so a misspelt field, a removed field or a wrong argument type fails a
test instead of a request to a real shop.

- Source: the npm package `{package}` version {package_version} (Shopify's own), file
  `package/{member}` inside `{tarball}`.
- Size: {size:,} bytes gzipped ({unpacked:,} bytes of JSON); sha256 `{sha256}`.

Refresh it when `SHOPIFY_API_VERSION` moves: `make shopify-schema` fetches the version that is the
default in `app/config.py`; `make shopify-schema SHOPIFY_API_VERSION=2027-01` fetches another one
(the test keeps asking for the default's file until the default moves too). Both need `npm`.
"""


class RefreshError(Exception):
    """The schema could not be refreshed; the message says why."""


def default_version() -> str:
    """The API version the service pins: the default of `Settings.SHOPIFY_API_VERSION`."""
    return str(Settings.model_fields["SHOPIFY_API_VERSION"].default)


def pack(package: str, into: Path) -> Path:
    """Run `npm pack` for `package` in `into` and return the tarball it wrote."""
    npm = shutil.which("npm")
    if npm is None:
        raise RefreshError("npm is not installed; it is needed to fetch " + package)
    done = subprocess.run(
        [npm, "pack", package, "--silent"],
        cwd=into,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise RefreshError(f"npm pack {package} failed: {done.stderr.strip()[-500:]}")
    tarballs = sorted(into.glob("*.tgz"))
    if len(tarballs) != 1:
        raise RefreshError(f"npm pack {package} wrote {len(tarballs)} tarballs, not one")
    return tarballs[0]


def extract(tarball: Path, version: str) -> tuple[bytes, str, str]:
    """The gzipped schema for `version`, its path inside the package, and the package version."""
    member = f"dist/data/admin_{version}.json.gz"
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
        if f"package/{member}" not in names:
            published = sorted(
                name.removeprefix("package/dist/data/admin_").removesuffix(".json.gz")
                for name in names
                if re.fullmatch(r"package/dist/data/admin_[^/]+\.json\.gz", name)
            )
            raise RefreshError(
                f"{tarball.name} has no {member}; its Admin API versions are "
                f"{', '.join(published) or 'none'}"
            )
        schema = archive.extractfile(f"package/{member}")
        manifest = archive.extractfile("package/package.json")
        if schema is None or manifest is None:
            raise RefreshError(f"{tarball.name}: {member} or package.json is not a file")
        package_version = str(json.loads(manifest.read())["version"])
        return schema.read(), member, package_version


def check(gzipped: bytes) -> int:
    """Raise unless `gzipped` is a gzipped introspection result; return its unpacked size."""
    try:
        unpacked = gzip.decompress(gzipped)
        types = json.loads(unpacked)["data"]["__schema"]["types"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RefreshError(f"not a gzipped introspection result: {exc}") from exc
    if not any(t.get("name") == "QueryRoot" for t in types):
        raise RefreshError("the introspection result has no QueryRoot: not the Admin API")
    return len(unpacked)


def refresh(version: str, package: str = PACKAGE, into: Path = HERE) -> Path:
    """Fetch the schema of `version` into `into` and return the file written."""
    if not VERSION.fullmatch(version):
        raise RefreshError(f"SHOPIFY_API_VERSION={version!r}: expected YYYY-MM or unstable")
    with tempfile.TemporaryDirectory(prefix="shopify-schema-") as temp:
        tarball = pack(package, Path(temp))
        gzipped, member, package_version = extract(tarball, version)
        tarball_name = tarball.name
    unpacked = check(gzipped)
    target = into / f"admin_{version}.json.gz"
    for stale in into.glob("admin_*.json.gz"):
        if stale != target:
            stale.unlink()
    target.write_bytes(gzipped)
    (into / "README.md").write_text(
        README.format(
            version=version,
            package=PACKAGE,
            package_version=package_version,
            member=member,
            tarball=tarball_name,
            size=len(gzipped),
            unpacked=unpacked,
            sha256=hashlib.sha256(gzipped).hexdigest(),
        ),
        encoding="utf-8",
    )
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "version",
        nargs="?",
        default=default_version(),
        help="Admin API version, e.g. 2027-01 (default: the SHOPIFY_API_VERSION default)",
    )
    parser.add_argument(
        "--package", default=PACKAGE, help=f"npm package spec to pack (default: {PACKAGE})"
    )
    args = parser.parse_args(argv)
    try:
        target = refresh(args.version, args.package)
    except RefreshError as exc:
        sys.stderr.write(f"shopify-schema: {exc}\n")
        return 1
    sys.stdout.write(f"wrote {target} ({target.stat().st_size:,} bytes)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
