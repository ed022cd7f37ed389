"""The labelled email set (`emails.jsonl`): its schema, its checks and its loader.

Each line is one customer email with what a careful support lead decided the agent should do:
the intent, the exact set of tools, and whether a person must see it. The loader refuses a
line that is not valid, names an unregistered tool, or gives an unverified sender a tool that
reveals customer data.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.agent.plan import Intent
from app.tools import tool_registry
from app.tools.kit import Scope

EMAILS_FILE = "emails.jsonl"
HELDOUT = "heldout"
"""The split kept out of the offline rules' development: measured, never tuned on."""
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


class ExpectedOutcome(BaseModel):
    """What a careful support lead decided the agent should do with one email."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intent: Intent
    tools: frozenset[str]
    """The tools a good agent calls, as a set (`submit_reply_plan` is never listed)."""
    needs_human: bool

    @field_validator("tools", mode="before")
    @classmethod
    def _unique_list(cls, value: object) -> object:
        if isinstance(value, list) and len(set(value)) != len(value):
            raise ValueError("tools must not repeat a name")
        return value

    @field_validator("tools")
    @classmethod
    def _registered(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = sorted(name for name in value if tool_registry().get(name) is None)
        if unknown:
            raise ValueError(f"not registered tools: {', '.join(unknown)}")
        return value


class EvalEmail(BaseModel):
    """One labelled customer email."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")
    language: str
    """BCP 47 tag of the language the customer wrote in."""
    sender: str
    verified: bool
    """Whether the sender passed identity checks; unverified senders get no order data."""
    subject: str
    body: str = Field(min_length=1)
    expected: ExpectedOutcome
    notes: str = ""
    split: Literal["dev", "heldout"] = "dev"
    """`heldout`: written before the offline rules were tuned and never looked at while tuning,
    so its score says how the rules do on email they were not fitted to."""

    @field_validator("language")
    @classmethod
    def _language_tag(cls, value: str) -> str:
        if not _LANGUAGE.match(value):
            raise ValueError(f"not a BCP 47 language tag: {value!r}")
        return value

    @field_validator("sender")
    @classmethod
    def _address(cls, value: str) -> str:
        if not _ADDRESS.match(value):
            raise ValueError(f"not an email address: {value!r}")
        return value

    @model_validator(mode="after")
    def _unverified_get_public_tools_only(self) -> Self:
        if not self.verified:
            scoped = sorted(n for n in self.expected.tools if _scope(n) is not Scope.PUBLIC)
            if scoped:
                raise ValueError(f"an unverified sender cannot use {', '.join(scoped)}")
        return self

    @property
    def primary_language(self) -> str:
        """The language subtag alone: "fa" for "fa-IR"."""
        return self.language.split("-")[0].lower()


def _scope(name: str) -> Scope | None:
    tool = tool_registry().get(name)
    return tool.scope if tool is not None else None


def load_emails(text: str | None = None) -> list[EvalEmail]:
    """Parse and validate the labelled set (the bundled file unless `text` is given).

    Raises:
        ValueError: a line is not valid JSON or not a valid labelled email, or ids repeat.
    """
    if text is None:
        text = resources.files("app.agent").joinpath(EMAILS_FILE).read_text(encoding="utf-8")
    emails: list[EvalEmail] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            email = EvalEmail.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ValueError(f"{EMAILS_FILE} line {number}: {exc}") from exc
        if email.id in seen:
            raise ValueError(f"{EMAILS_FILE} line {number}: duplicate id {email.id!r}")
        seen.add(email.id)
        emails.append(email)
    return emails
