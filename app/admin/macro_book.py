"""A store's macros (saved replies): their requests, responses and changes.

Creating, editing and deactivating are each audited in the same transaction as the change.

A macro's name is unique per store and language, so a store can keep "Where is my parcel?" in
English, German and for every other language ("") side by side. Deactivating keeps the row
(its history stays readable in the audit log) and takes it out of the composer's picker.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, RootModel, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.admin.macro_fill import VARIABLES, FilledMacro, placeholders, unknown_placeholders
from app.admin.review import Conflict, NotFound
from app.admin.schemas import FromRow, Schema, Timestamp
from app.admin.staff import Staff, audit
from app.db.engine import Database
from app.db.models import utcnow
from app.db.workspace import Macro
from app.replies.catalogs import languages

MAX_BODY_CHARS = 10_000


def _language(value: str) -> str:
    tag = value.strip()
    if tag and tag not in languages():
        choices = ", ".join(sorted(languages()))
        raise ValueError(f"unknown language {tag!r}: use one of {choices}, or empty for any")
    return tag


def _body(value: str) -> str:
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise ValueError("the macro's text is empty")
    return text + "\n"


def _name(value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise ValueError("the macro needs a name")
    return name


Name = Annotated[str, Field(max_length=120), AfterValidator(_name)]
Language = Annotated[
    str,
    Field(max_length=35, description='A reply language ("en", "de"...), or "" for any.'),
    AfterValidator(_language),
]
Body = Annotated[
    str,
    Field(
        max_length=MAX_BODY_CHARS,
        description="Plain text; `{{ customer_name }}`, `{{ order_number }}`, "
        "`{{ tracking_link }}`, `{{ order_status }}` and `{{ store_name }}` are filled in.",
    ),
    AfterValidator(_body),
]


class MacroInput(Schema):
    """A whole macro, as created or replaced."""

    name: Name
    language: Language = ""
    body: Body


class MacroPatch(Schema):
    """Some of a macro's fields; `is_active: false` takes it out of the composer."""

    name: Name | None = None
    language: Language | None = None
    body: Body | None = None
    is_active: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> MacroPatch:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        return self


class MacroView(FromRow):
    """One saved reply."""

    id: int
    name: str
    language: str
    """The reply language it is for; "" for every language."""
    body: str
    is_active: bool
    created_by: str
    created_at: Timestamp
    updated_by: str | None
    updated_at: Timestamp
    variables: list[str] = []
    """The placeholders the text uses."""
    unknown_variables: list[str] = []
    """Placeholders that are not variables: they stay in the text as written."""

    @classmethod
    def of(cls, macro: Macro) -> MacroView:
        """The view of a row, with the placeholders its text uses."""
        view = cls.model_validate(macro)
        view.variables = placeholders(macro.body)
        view.unknown_variables = unknown_placeholders(macro.body)
        return view


class MacroList(RootModel[list[MacroView]]):
    """The store's macros by name and language."""


class FilledMacroView(Schema):
    """A macro filled with one email's facts, ready for the composer."""

    macro_id: int
    name: str
    language: str
    text: str
    missing: list[str]
    """Placeholders left in the text (no fact for them in this email, or unknown names)."""

    @classmethod
    def of(cls, filled: FilledMacro) -> FilledMacroView:
        """The response for a filled macro."""
        return cls(
            macro_id=filled.macro_id,
            name=filled.name,
            language=filled.language,
            text=filled.text,
            missing=filled.missing,
        )


class VariableView(Schema):
    """A variable a macro may use."""

    name: str
    description: str


class VariableList(RootModel[list[VariableView]]):
    """The variables a macro may use."""


def variables() -> VariableList:
    """Every variable, for the page's help and the API."""
    return VariableList(
        [VariableView(name=name, description=text) for name, text in VARIABLES.items()]
    )


def _taken(name: str, language: str) -> Conflict:
    where = f"in {language}" if language else "for every language"
    return Conflict(f"there is already a macro {name!r} {where}")


async def list_macros(db: Database, *, active_only: bool = False) -> list[MacroView]:
    """The store's macros (`db` is a store's database), by name then language."""
    statement = select(Macro).order_by(Macro.name, Macro.language, Macro.id)
    if active_only:
        statement = statement.where(Macro.is_active.is_(True))
    async with db.read() as session:
        return [MacroView.of(m) for m in (await session.execute(statement)).scalars()]


async def get_macro(db: Database, macro_pk: int) -> MacroView:
    """One macro of the store."""
    async with db.read() as session:
        macro = await session.get(Macro, macro_pk)
        if macro is None:
            raise NotFound(f"no macro {macro_pk}")
        return MacroView.of(macro)


async def create_macro(db: Database, staff: Staff, new: MacroInput) -> MacroView:
    """Save a new macro in the store (a name taken in that language is a conflict)."""
    try:
        async with db.write() as session:
            clash = await session.execute(
                select(Macro.id).where(Macro.name == new.name, Macro.language == new.language)
            )
            if clash.first() is not None:
                raise _taken(new.name, new.language)
            macro = Macro(
                name=new.name,
                language=new.language,
                body=new.body,
                is_active=True,
                created_by=staff.email,
                updated_at=utcnow(),
            )
            session.add(macro)
            await session.flush()
            audit(
                session,
                staff,
                "create_macro",
                target_type="macro",
                target_id=macro.id,
                detail={"name": new.name, "language": new.language},
            )
            return MacroView.of(macro)
    except IntegrityError as exc:
        # Two people saving the same name at once: the unique constraint decides.
        raise _taken(new.name, new.language) from exc


async def change_macro(
    db: Database, staff: Staff, macro_pk: int, change: MacroPatch | MacroInput
) -> MacroView:
    """Change a macro's fields (a whole `MacroInput` replaces them all)."""
    fields = change.model_dump(exclude_unset=isinstance(change, MacroPatch), exclude_none=True)
    try:
        async with db.write() as session:
            macro = await session.get(Macro, macro_pk)
            if macro is None:
                raise NotFound(f"no macro {macro_pk}")
            name, language = fields.get("name", macro.name), fields.get("language", macro.language)
            if (name, language) != (macro.name, macro.language):
                clash = await session.execute(
                    select(Macro.id).where(
                        Macro.name == name, Macro.language == language, Macro.id != macro_pk
                    )
                )
                if clash.first() is not None:
                    raise _taken(name, language)
            before = {key: getattr(macro, key) for key in fields}
            for key, value in fields.items():
                setattr(macro, key, value)
            macro.updated_by = staff.email
            macro.updated_at = utcnow()
            await session.flush()
            changed = sorted(key for key in fields if before[key] != fields[key])
            audit(
                session,
                staff,
                _action(fields, before),
                target_type="macro",
                target_id=macro_pk,
                detail={"name": macro.name, "language": macro.language, "changed": changed},
            )
            return MacroView.of(macro)
    except IntegrityError as exc:
        raise _taken(str(fields.get("name")), str(fields.get("language", ""))) from exc


def _action(fields: dict[str, object], before: dict[str, object]) -> str:
    if "is_active" in fields and fields["is_active"] != before["is_active"]:
        return "activate_macro" if fields["is_active"] else "deactivate_macro"
    return "edit_macro"
