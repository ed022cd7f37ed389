"""`python -m app stores ...` as an operator runs it, on the database under test."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import cli
from app.db.engine import Database
from app.db.models import AuditEntry, Message, Store
from app.db.statuses import MessageStatus, StoreStatus
from app.store.directory import StoreDirectory
from app.store.secrets import SecretBox
from tests.builders import on_database
from tests.conftest import BASIC_AUTH, SettingsFactory

ROOT = Path(__file__).parent.parent.parent
SHOP = "acme.myshopify.com"
TOKEN = "shpat_0123456789abcdef0123456789abcdef"


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch, db: Database, database_url: str) -> str:
    """The environment `python -m app` reads, on the test's clean database (`db` empties it)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("INBOUND_BASIC_AUTH_USER", BASIC_AUTH[0])
    monkeypatch.setenv("INBOUND_BASIC_AUTH_PASSWORD", BASIC_AUTH[1])
    monkeypatch.setenv("STORE_NAME", "Test Shop")
    monkeypatch.setenv("SUPPORT_FROM_EMAIL", "support@shop.test")
    monkeypatch.setenv("SUPPORT_ADDRESSES", "orders@shop.test")
    monkeypatch.setenv("SHOPIFY_SHOP_DOMAIN", "default-shop.myshopify.com")
    # The test's own logging stays as pytest set it up.
    monkeypatch.setattr(cli, "configure_logging", lambda *_args: None)
    return database_url


def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *argv: str,
    stdin: str = "",
) -> str:
    """`python -m app ...` in this process (quick); its standard output."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    cli.main(list(argv))
    return capsys.readouterr().out


def refused(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *argv: str,
    stdin: str = "",
) -> str:
    """Run a command that must be refused: exit code 2 and one line on standard error."""
    with pytest.raises(SystemExit) as stopped:
        run(monkeypatch, capsys, *argv, stdin=stdin)
    assert stopped.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("refused: ")
    return line


async def stores(session: AsyncSession) -> dict[str, Store]:
    rows = (await session.execute(select(Store).order_by(Store.id))).scalars().all()
    return {row.slug: row for row in rows}


async def audit(session: AsyncSession) -> list[tuple[int | None, str, str, int | None]]:
    rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars().all()
    return [(row.store_id, row.staff_email, row.action, row.target_id) for row in rows]


ACME = (
    "stores",
    "add",
    "--slug",
    "acme",
    "--name",
    "Acme Outdoor",
    "--support-email",
    "Help@Acme.test",
)


def test_add_stores_every_setting_and_audits_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], operator: str
) -> None:
    out = run(
        monkeypatch,
        capsys,
        *ACME,
        "--address",
        "Orders@acme.test",
        "--address",
        "help@acme.test",
        "--shop-domain",
        "Acme.myshopify.com",
        "--store-url",
        "https://acme.example/",
        "--locale",
        "de-CH",
        "--timezone",
        "Europe/Zurich",
        "--auto-send-intents",
        "order_status,refund",
        "cancel_order",
        "--shadow",
    )
    assert out == "store 'acme' added as id 2, without credentials\n"
    store = on_database(operator, stores)["acme"]
    assert (store.id, store.name, store.status) == (2, "Acme Outdoor", StoreStatus.ACTIVE)
    assert store.support_email == "Help@acme.test"
    assert store.support_addresses == ["help@acme.test", "orders@acme.test"]
    assert (store.shop_domain, store.store_url) == ("acme.myshopify.com", "https://acme.example")
    assert (store.locale, store.timezone) == ("de-CH", "Europe/Zurich")
    assert store.auto_send_intents == ["order_status", "refund", "cancel_order"]
    assert (store.shadow_mode, store.credentials) == (True, None)
    assert on_database(operator, audit) == [(2, "cli", "store_added", 2)]


def test_a_new_store_gets_its_mail_and_the_deployments_send_rules_by_default(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    operator: str,
    make_settings: SettingsFactory,
) -> None:
    run(monkeypatch, capsys, *ACME)

    async def route(recipients: list[str]) -> str | None:
        db = Database.connect(operator)
        try:
            found = await StoreDirectory(db, make_settings()).route(recipients)
            return None if found is None else f"{found.slug}:{found.active}"
        finally:
            await db.dispose()

    assert asyncio.run(route(["someone@else.test", "HELP@acme.test"])) == "acme:True"
    # With two stores, mail to neither is nobody's (quarantined).
    assert asyncio.run(route(["nobody@nowhere.test"])) is None
    # The deployment's send rules (AUTO_SEND_INTENTS, as the CLI read it) apply unless given.
    store = on_database(operator, stores)["acme"]
    assert store.auto_send_intents == ["order_status", "stock_or_price", "product_question"]
    assert store.shadow_mode is False


def test_auto_send_intents_given_empty_sends_nothing_on_its_own(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], operator: str
) -> None:
    run(monkeypatch, capsys, *ACME, "--auto-send-intents")
    assert on_database(operator, stores)["acme"].auto_send_intents == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("--slug", "Acme"), "slug 'Acme' must be 1-64 lower-case letters"),
        (("--slug", "acme-"), "slug 'acme-' must be"),
        (("--slug", "a" * 65), "must be 1-64"),
        (("--slug", "default"), "slug 'default' is already store 1's"),
        (("--support-email", "help@@acme.test"), "--support-email 'help@@acme.test' is not an"),
        (("--support-email", "help@acme"), "is not an email address"),
        (("--address", "x"), "--address 'x' is not an email address"),
        (("--support-email", "SUPPORT@shop.test"), "support@shop.test already routes mail to"),
        (("--address", "orders@shop.test"), "orders@shop.test already routes mail to"),
        (("--shop-domain", "acme.com"), "shop domain 'acme.com' must look like"),
        (("--shop-domain", "a.myshopify.com.example"), "must look like your-store.myshopify.com"),
        (("--shop-domain", "default-shop.myshopify.com"), "is already store 'default''s"),
        (("--store-url", "acme.example"), "store URL 'acme.example' must be the shop's address"),
        (("--timezone", "Mars/Olympus"), "time zone 'Mars/Olympus' is not an IANA time zone"),
        (("--timezone", "../../etc/passwd"), "is not an IANA time zone"),
        (("--locale", "english please"), "locale 'english please' must be a language tag"),
        (("--auto-send-intents", "refund,anything"), "unknown intent 'anything'; use some of:"),
        (("--name", "  "), "the store needs a --name"),
    ],
)  # fmt: skip
def test_add_refuses_what_it_cannot_store_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    operator: str,
    change: tuple[str, str],
    reason: str,
) -> None:
    argv = list(ACME)
    option, value = change
    if option in argv:
        argv[argv.index(option) + 1] = value
    else:
        argv += [option, value]
    assert reason in refused(monkeypatch, capsys, *argv)
    assert list(on_database(operator, stores)) == ["default"]
    assert on_database(operator, audit) == []


def test_add_refuses_what_another_added_store_already_has(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], operator: str
) -> None:
    run(monkeypatch, capsys, *ACME, "--address", "b@acme.test", "--shop-domain", SHOP)
    other = ["stores", "add", "--name", "Other", "--support-email"]
    assert "slug 'acme' is already store 2's" in refused(
        monkeypatch, capsys, *other, "x@other.test", "--slug", "acme"
    )
    assert "shop domain acme.myshopify.com is already store 'acme''s" in refused(
        monkeypatch, capsys, *other, "x@other.test", "--slug", "o", "--shop-domain", SHOP.upper()
    )
    assert "address b@acme.test already routes mail to store 'acme'" in refused(
        monkeypatch, capsys, *other, "B@Acme.test", "--slug", "o"
    )
    assert list(on_database(operator, stores)) == ["default", "acme"]


def test_a_token_is_read_from_stdin_and_stored_sealed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], operator: str
) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("STORE_SECRET_KEYS", key)
    out = run(monkeypatch, capsys, *ACME, "--token-stdin", stdin=f"{TOKEN}\n")
    assert out == "store 'acme' added as id 2, with its Admin API token (encrypted)\n"
    sealed = on_database(operator, stores)["acme"].credentials
    assert sealed is not None
    assert TOKEN.encode() not in sealed
    assert SecretBox.from_setting(SecretStr(key)).open(sealed) == {"admin_api_token": TOKEN}
    listing = run(monkeypatch, capsys, "stores", "list")
    assert TOKEN not in listing
    assert "stored" in listing.splitlines()[2]


def test_a_token_needs_a_key_a_value_and_never_comes_from_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], operator: str
) -> None:
    monkeypatch.setenv("ACME_TOKEN", TOKEN)
    assert "STORE_SECRET_KEYS is not set" in refused(
        monkeypatch, capsys, *ACME, "--token-env", "ACME_TOKEN"
    )
    monkeypatch.setenv("STORE_SECRET_KEYS", Fernet.generate_key().decode())
    assert "the environment variable MISSING_TOKEN is not set or empty" in refused(
        monkeypatch, capsys, *ACME, "--token-env", "MISSING_TOKEN"
    )
    assert "no token on standard input" in refused(monkeypatch, capsys, *ACME, "--token-stdin")
    # There is no option that takes the token itself.
    with pytest.raises(SystemExit) as stopped:
        run(monkeypatch, capsys, *ACME, "--token", TOKEN)
    assert stopped.value.code == 2
    assert list(on_database(operator, stores)) == ["default"]


def test_list_shows_every_store_without_credentials_and_counts_unrouted_mail(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], operator: str
) -> None:
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("STORE_SECRET_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("ACME_TOKEN", TOKEN)
    run(monkeypatch, capsys, *ACME, "--shop-domain", SHOP, "--token-env", "ACME_TOKEN")

    async def deliveries(session: AsyncSession) -> None:
        for number, store_id in enumerate([None, None, 1, 2]):
            session.add(unrouted_message(number, store_id))

    on_database(operator, deliveries)
    listing = run(monkeypatch, capsys, "stores", "list")
    assert TOKEN not in listing
    assert [line.split() for line in listing.splitlines()] == [
        ["ID", "SLUG", "NAME", "STATUS", "DOMAIN", "ADDRESSES", "CREDENTIALS"],
        ["1", "default", "Test", "Shop", "active", "default-shop.myshopify.com",
         "orders@shop.test,support@shop.test", "environment"],
        ["2", "acme", "Acme", "Outdoor", "active", SHOP, "help@acme.test", "stored"],
        ["2", "email(s)", "not", "routed", "to", "any", "store"],
    ]  # fmt: skip


def unrouted_message(number: int, store_id: int | None) -> Message:
    return Message(
        store_id=store_id,
        provider="sendgrid",
        payload_format="raw",
        content_type="message/rfc822",
        raw=b"From: a@example.com\r\n\r\nhi\r\n",
        raw_size=27,
        checksum=f"{number:064d}",
        message_id=f"<m{number}@example.com>",
        status=MessageStatus.RECEIVED,
    )


def test_disable_and_enable_keep_history_and_are_audited(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], operator: str
) -> None:
    run(monkeypatch, capsys, *ACME)
    on_database(operator, deliveries_of_acme)
    assert run(monkeypatch, capsys, "stores", "disable", "--slug", "acme") == (
        "store 'acme' (id 2) is disabled\n"
    )
    assert run(monkeypatch, capsys, "stores", "disable", "--slug", "acme") == (
        "store 'acme' was already disabled\n"
    )
    assert on_database(operator, stores)["acme"].status is StoreStatus.DISABLED
    assert on_database(operator, count_messages) == 1  # its history stays
    # The default store can be disabled too (a deployment that only serves added stores).
    run(monkeypatch, capsys, "stores", "disable", "--slug", "default")
    assert on_database(operator, stores)["default"].status is StoreStatus.DISABLED
    assert run(monkeypatch, capsys, "stores", "enable", "--slug", "acme") == (
        "store 'acme' (id 2) is enabled\n"
    )
    assert on_database(operator, stores)["acme"].status is StoreStatus.ACTIVE
    assert on_database(operator, audit) == [
        (2, "cli", "store_added", 2),
        (2, "cli", "store_disabled", 2),
        (1, "cli", "store_disabled", 1),
        (2, "cli", "store_enabled", 2),
    ]
    assert "no store with slug 'nope'" in refused(
        monkeypatch, capsys, "stores", "disable", "--slug", "nope"
    )


async def deliveries_of_acme(session: AsyncSession) -> None:
    session.add(unrouted_message(9, 2))


async def count_messages(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count(Message.id)))).scalar_one())


def test_an_uninstalled_store_is_not_enabled_by_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], operator: str
) -> None:
    run(monkeypatch, capsys, *ACME)

    async def uninstall(session: AsyncSession) -> None:
        (await stores(session))["acme"].status = StoreStatus.UNINSTALLED

    on_database(operator, uninstall)
    assert "store 'acme' is uninstalled, not disabled" in refused(
        monkeypatch, capsys, "stores", "enable", "--slug", "acme"
    )
    assert "store 'acme' is uninstalled, not active" in refused(
        monkeypatch, capsys, "stores", "disable", "--slug", "acme"
    )


def test_rotate_key_re_encrypts_with_the_first_key_all_or_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], operator: str
) -> None:
    old, new, stranger = (Fernet.generate_key().decode() for _ in range(3))
    monkeypatch.setenv("STORE_SECRET_KEYS", old)
    monkeypatch.setenv("ACME_TOKEN", TOKEN)
    run(monkeypatch, capsys, *ACME, "--token-env", "ACME_TOKEN")
    run(monkeypatch, capsys, "stores", "add", "--slug", "bolt", "--name", "Bolt",
        "--support-email", "help@bolt.test", "--token-env", "ACME_TOKEN")  # fmt: skip
    run(monkeypatch, capsys, "stores", "add", "--slug", "none", "--name", "None",
        "--support-email", "help@none.test")  # fmt: skip
    before = {slug: row.credentials for slug, row in on_database(operator, stores).items()}

    monkeypatch.setenv("STORE_SECRET_KEYS", f"{new},{old}")
    out = run(monkeypatch, capsys, "stores", "rotate-key")
    assert out == "credentials of 2 store(s) re-encrypted with the first key\n"
    after = {slug: row.credentials for slug, row in on_database(operator, stores).items()}
    for slug in ("acme", "bolt"):
        sealed = after[slug]
        assert sealed is not None
        assert sealed != before[slug]
        assert Fernet(new.encode()).decrypt(sealed) == f'{{"admin_api_token": "{TOKEN}"}}'.encode()
    assert after["none"] is None

    # Without the key that sealed them, nothing is rotated and nothing changes.
    monkeypatch.setenv("STORE_SECRET_KEYS", f"{stranger},{old}")
    assert "no key in STORE_SECRET_KEYS opens the credentials of store 'acme'" in refused(
        monkeypatch, capsys, "stores", "rotate-key"
    )
    assert {slug: row.credentials for slug, row in on_database(operator, stores).items()} == after
    monkeypatch.delenv("STORE_SECRET_KEYS")
    assert "STORE_SECRET_KEYS is not set" in refused(monkeypatch, capsys, "stores", "rotate-key")


def test_every_stores_action_has_a_description_and_every_option_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = cli.build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    stores = commands.choices["stores"]
    [actions] = [a for a in stores._actions if isinstance(a, argparse._SubParsersAction)]
    summaries = {action.dest: action.help for action in actions._choices_actions}
    assert set(actions.choices) == {"add", "list", "disable", "enable", "new-key", "rotate-key"}
    for name, action_parser in actions.choices.items():
        assert action_parser.description, name
        assert summaries.get(name), name
        for action in action_parser._actions:
            assert action.help, f"stores {name} {'/'.join(action.option_strings)} has no help"
        with pytest.raises(SystemExit) as exited:
            cli.main(["stores", name, "--help"])
        assert exited.value.code == 0
        shown = " ".join(capsys.readouterr().out.split())
        assert " ".join(action_parser.description.split()) in shown


# --- through the real entry point ----------------------------------------------------------------


def cli_process(
    *args: str, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_new_key_needs_no_configuration_at_all() -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    made = cli_process("stores", "new-key", env=env)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    Fernet(key.encode())  # a valid key
    assert cli_process("stores", "new-key", env=env).stdout.strip() != key


def test_the_token_travels_by_environment_and_never_shows(operator: str) -> None:
    key = Fernet.generate_key().decode()
    env = {**os.environ, "STORE_SECRET_KEYS": key, "ACME_TOKEN": TOKEN, "LOG_LEVEL": "DEBUG"}
    added = cli_process(*ACME, "--token-env", "ACME_TOKEN", env=env)
    assert added.returncode == 0, added.stderr
    listed = cli_process("stores", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    for result in (added, listed):
        assert TOKEN not in result.stdout + result.stderr
        assert key not in result.stdout + result.stderr
    bad = cli_process(*ACME[:3], "Bad Slug", *ACME[4:], env=env)
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == [
        "refused: slug 'Bad Slug' must be 1-64 lower-case letters, digits and inner hyphens "
        "(e.g. acme)"
    ]
