"""THE field table of ``User``: what each field is, how it is stored, validated, cleared and filtered.

Built from the proto descriptor (``google.api.field_behavior``, ``userservice.v1.field_access``,
types and presence), plus ``OVERRIDES``: what the descriptor cannot say (column types of released
columns, a value rule, the value a cleared enum takes, a coupling such as "a new e-mail resets
``email_verified``", the unique index, the ListUsers filter, an example value for test generators).
Masks, validation, row mapping, audit JSON, ListUsers filters and the tests all read this table;
no other module lists ``User`` fields.

A new field in the proto needs no line here when the defaults fit: a string is a nullable TEXT
column of the same name, at most 256 characters, one line with no control characters (every text
field follows ``rules.control``); a bool, an enum, a message, a map or a repeated field gets the
column its kind implies (an integer: INTEGER, 0 by default; docs/api.md, "Adding a field").
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import peewee as pw
from google.api import field_behavior_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.timestamp_pb2 import Timestamp
from userservice.v1 import field_access_pb2, user_pb2

from service.errors import Violation
from service.users import checks, rules

User = user_pb2.User
USER: Any = User.DESCRIPTOR
ADDRESS: Any = user_pb2.Address.DESCRIPTOR
DEFAULT_TEXT_LIMIT = 256
_SORTED_JSON = json.JSONEncoder(sort_keys=True).encode


class Kind(enum.Enum):
    TEXT = "text"
    FLAG = "flag"
    NUMBER = "number"
    ENUM = "enum"
    MESSAGE = "message"
    MAP = "map"
    LIST = "list"
    TIME = "time"


class Filter(enum.Enum):
    """How ListUsers' ``filter`` compares a field (docs/api.md, "ListUsers")."""

    EQUAL = "equal"  # the stored text
    CANONICAL = "canonical"  # NFKC + case-folded, on the field's canonical column
    ENUM = "enum"  # by value name
    FLAG = "flag"  # true or false
    CONTAINS = "contains"  # one element of a repeated field


@dataclass(frozen=True, slots=True)
class Column:
    """One column storing (part of) a field; ``derive`` computes a derived column from the field's text."""

    name: str
    make: Callable[[], pw.Field]
    derive: Callable[[str], Any] | None = None


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    json_name: str
    kind: Kind
    has_presence: bool
    behaviors: frozenset[int]
    self_service: bool
    columns: tuple[Column, ...] = ()
    rule: rules.TextRule | None = None  # TEXT: the rule of a non-empty value
    check: Callable[[User, str], list[Violation]] | None = None  # other kinds: the whole field's rule
    cleared: int | None = None  # ENUM: the value that an unset (zero) value means
    resets: str | None = None  # a change of this field clears that flag, unless the request sets it
    unique: str | None = None  # ErrorInfo reason when the unique index on (tenant, first column) refuses it
    filter: tuple[str, Filter] | None = None  # ListUsers: (filter name, comparison)
    secret: bool = False  # stored (hashed) apart from the user; never read back, never audited with a value
    example: Any = None  # a valid value, for generators
    descriptor: Any = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def output_only(self) -> bool:
        return field_behavior_pb2.OUTPUT_ONLY in self.behaviors

    @property
    def required(self) -> bool:
        return field_behavior_pb2.REQUIRED in self.behaviors

    @property
    def input_only(self) -> bool:
        return field_behavior_pb2.INPUT_ONLY in self.behaviors

    @property
    def mutable(self) -> bool:
        """Writable through an update mask (the etag is a precondition, not a value)."""
        return not self.output_only and self.name != "etag"

    # ---- storage ----------------------------------------------------------------------------
    def to_columns(self, user: User) -> dict[str, Any]:
        """The column values that store this field of ``user`` (derived columns included)."""
        value = getattr(user, self.name)
        kind = self.kind
        if kind is Kind.TEXT:
            text = value if (not self.has_presence or value) else None
            out = {self.columns[0].name: text}
            for column in self.columns[1:]:
                out[column.name] = column.derive(text) if (text and column.derive) else None
            return out
        if kind is Kind.FLAG:
            stored: Any = bool(value)
        elif kind is Kind.ENUM or kind is Kind.NUMBER:
            stored = int(value)
        elif kind is Kind.MESSAGE:
            parts = {f.name: v for f, v in value.ListFields()}
            stored = _SORTED_JSON(parts) if parts else None
        elif kind is Kind.MAP:
            stored = _SORTED_JSON(dict(value)) if value else None
        elif kind is Kind.LIST:
            stored = json.dumps(list(value)) if value else None
        else:  # TIME
            stored = value.ToMicroseconds() if user.HasField(self.name) else None
        return {self.columns[0].name: stored}

    def decode(self, stored: Any) -> Any:
        """The value of this field, as ``User``'s constructor takes it, from its (non-null) first column."""
        kind = self.kind
        if kind is Kind.FLAG:
            return bool(stored)
        if kind in (Kind.MESSAGE, Kind.MAP, Kind.LIST):
            return json.loads(stored)
        if kind is Kind.TIME:
            return Timestamp(seconds=stored // 1_000_000, nanos=stored % 1_000_000 * 1000)
        return stored  # TEXT, ENUM, NUMBER

    # ---- values -----------------------------------------------------------------------------
    def same(self, a: User, b: User) -> bool:
        """Whether two users hold the same value here (presence included)."""
        if self.has_presence and a.HasField(self.name) != b.HasField(self.name):
            return False
        return bool(getattr(a, self.name) == getattr(b, self.name))



def _kind(f: FieldDescriptor) -> Kind:
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        return Kind.MAP
    if f.is_repeated:
        return Kind.LIST
    if f.message_type is not None:
        return Kind.TIME if f.message_type.full_name == "google.protobuf.Timestamp" else Kind.MESSAGE
    if f.type == f.TYPE_BOOL:
        return Kind.FLAG
    if f.type == f.TYPE_ENUM:
        return Kind.ENUM
    if f.type in (f.TYPE_INT32, f.TYPE_INT64):
        return Kind.NUMBER
    return Kind.TEXT


def _default_column(name: str, kind: Kind, has_presence: bool) -> Column:
    if kind is Kind.TEXT:
        return Column(name, lambda: pw.TextField(null=has_presence))  # type: ignore[call-overload]
    if kind is Kind.FLAG:
        return Column(name, lambda: pw.BooleanField(default=False))
    if kind is Kind.ENUM:
        return Column(name, lambda: pw.IntegerField())
    if kind is Kind.NUMBER:
        return Column(name, lambda: pw.IntegerField(default=0))
    if kind is Kind.TIME:
        return Column(name, lambda: pw.BigIntegerField(null=True))
    return Column(name, lambda: pw.TextField(null=True))  # JSON of a message, map or list


def _char(length: int, null: bool = True, unique: bool = False) -> Callable[[], pw.Field]:
    return lambda: pw.CharField(max_length=length, null=null, unique=unique)  # type: ignore[call-overload]


_STATE_ALLOWED = frozenset({User.ACTIVE, User.LOCKED})

#: What the descriptor cannot say, per field. Everything else is derived from the field's kind.
OVERRIDES: dict[str, dict[str, Any]] = {
    "id": {"columns": (Column("id", _char(64, null=False, unique=True)),), "example": None},
    "username": {"columns": (Column("username", _char(64, null=False)),
                             Column("username_canon", _char(256, null=False), rules.canonical)),
                 "rule": rules.username, "unique": "USERNAME_TAKEN", "filter": ("username", Filter.CANONICAL),
                 "example": "walker.example"},
    "email": {"columns": (Column("email", _char(254)), Column("email_canon", _char(1024), rules.canonical)),
              "rule": rules.email, "unique": "EMAIL_TAKEN", "resets": "email_verified",
              "filter": ("email", Filter.CANONICAL), "example": "walker@example.com"},
    "email_verified": {"filter": ("email_verified", Filter.FLAG)},
    "phone_number": {"columns": (Column("phone_number", _char(16)),), "rule": rules.phone,
                     "resets": "phone_verified", "example": "+15552323353"},
    "profile": {"rule": rules.url, "example": "https://example.com/walker"},
    "picture": {"rule": rules.url, "example": "https://example.com/walker.png"},
    "website": {"rule": rules.url, "example": "https://walker.example.com/"},
    "gender": {"rule": rules.limit(64)},
    "birthdate": {"rule": rules.birthdate, "example": "1990-01-31"},
    "zoneinfo": {"rule": rules.zone, "example": "Europe/Paris"},
    "locale": {"rule": rules.locale, "example": "en-US"},
    "address": {"check": checks.address},
    "attributes": {"check": checks.attributes},
    "roles": {"check": checks.roles, "filter": ("role", Filter.CONTAINS), "example": ["walker"]},
    "state": {"cleared": User.ACTIVE, "filter": ("state", Filter.ENUM), "example": User.LOCKED,
              "check": checks.one_of(_STATE_ALLOWED, "must be ACTIVE or LOCKED (DELETED only through DeleteUser)")},
    "auth_type": {"cleared": User.PASSWORD, "example": User.TWO_FACTOR,
                  "check": checks.one_of(frozenset(User.AuthType.values()), "unknown auth type")},
    "external_id": {"columns": (Column("external_id", _char(256)),), "unique": "EXTERNAL_ID_TAKEN",
                    "filter": ("external_id", Filter.EQUAL), "example": "sso|walker"},
    "password": {"columns": (Column("password_hash", lambda: pw.TextField(null=True)),), "secret": True,
                 "example": "a walker's Passphrase 9"},
    "create_time": {"columns": (Column("create_time", lambda: pw.BigIntegerField()),)},
    "update_time": {"columns": (Column("update_time", lambda: pw.BigIntegerField()),)},
    "etag": {"columns": (Column("etag", _char(64, null=False)),)},
}


def _example(f: Any, kind: Kind) -> Any:
    if kind is Kind.TEXT:
        return f"{f.name}-example"
    if kind is Kind.FLAG:
        return True
    if kind is Kind.NUMBER:
        return 1
    if kind is Kind.ENUM:
        return f.enum_type.values[-1].number
    if kind is Kind.MAP:
        return {"walker": "example"}
    if kind is Kind.LIST:
        return ["example"]
    if kind is Kind.MESSAGE:
        return {sub.name: f"{sub.name}-example" for sub in f.message_type.fields}
    return None


def _build(f: FieldDescriptor) -> Field:
    options: Any = f.GetOptions()
    kind = _kind(f)
    base = Field(
        name=f.name, json_name=f.json_name, kind=kind, has_presence=f.has_presence,
        behaviors=frozenset(options.Extensions[field_behavior_pb2.field_behavior]),
        self_service=options.Extensions[field_access_pb2.field_access] == field_access_pb2.FIELD_ACCESS_SELF_SERVICE,
        columns=(_default_column(f.name, kind, f.has_presence),),
        rule=rules.limit(DEFAULT_TEXT_LIMIT) if kind is Kind.TEXT else None,
        example=_example(f, kind), descriptor=f,
    )
    return replace(base, **OVERRIDES.get(f.name, {}))


#: Every field of ``User``, in proto order.
FIELDS: tuple[Field, ...] = tuple(_build(f) for f in USER.fields)
BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
#: camelCase JSON name or proto name -> field, for masks written in either form.
BY_ANY_NAME: dict[str, Field] = {**{f.json_name: f for f in FIELDS}, **BY_NAME}

#: Fields an update can write; ``SELF_SERVICE`` of them a ``user`` key may write on its own user.
MUTABLE: frozenset[str] = frozenset(f.name for f in FIELDS if f.mutable)
SELF_SERVICE: frozenset[str] = frozenset(f.name for f in FIELDS if f.mutable and f.self_service)
#: Fields whose value in an update never changes anything: ignored in masks (AIP-134).
IGNORED_IN_MASK: frozenset[str] = frozenset(f.name for f in FIELDS if not f.mutable)
#: Fields whose value lives in the user's row and is read back into replies.
STORED: tuple[Field, ...] = tuple(f for f in FIELDS if f.columns and not f.secret)
#: Mutable fields an update writes as values (the password is written as its hash).
WRITABLE: tuple[Field, ...] = tuple(f for f in STORED if f.mutable)
UNIQUE: tuple[Field, ...] = tuple(f for f in FIELDS if f.unique)
FILTERS: dict[str, tuple[Field, Filter]] = {f.filter[0]: (f, f.filter[1]) for f in FIELDS if f.filter}
SECRET: Field = next(f for f in FIELDS if f.secret)


def field(name: str) -> Field:
    return BY_NAME[name]


def row_reader(index: dict[str, int]) -> Callable[[Any], User]:
    """A function from a row tuple (columns at ``index``) to its ``User``, built once: it runs on every read."""
    plain = tuple((f.name, index[f.columns[0].name]) for f in STORED if f.kind in (Kind.TEXT, Kind.ENUM, Kind.NUMBER))
    decoded = tuple((f.name, index[f.columns[0].name], f.decode) for f in STORED
                    if f.kind not in (Kind.TEXT, Kind.ENUM, Kind.NUMBER))

    def read(row: Any) -> User:
        values = {name: row[i] for name, i in plain if row[i] is not None}
        for name, i, decode in decoded:
            if row[i] is not None:
                values[name] = decode(row[i])
        return User(**values)
    return read


#: Rules over the merged user, as ``validation.validate_user`` runs them: a text rule (with whether the
#: field is required) for text fields, a whole-field check for the others.
TEXT_RULES: tuple[tuple[str, bool, rules.TextRule | None], ...] = tuple(
    (f.name, f.required, f.rule) for f in FIELDS if f.mutable and f.columns and not f.secret
    and f.check is None and f.kind is Kind.TEXT)
CHECKS: tuple[tuple[str, Callable[[User, str], list[Violation]]], ...] = tuple(
    (f.name, f.check) for f in FIELDS if f.mutable and f.columns and not f.secret and f.check is not None)


#: The fields ``as_stored`` and ``normalize`` touch, by what they do (read once per write: kept apart).
_OPTIONAL_TEXTS = tuple(f.name for f in FIELDS if f.columns and not f.secret and f.kind is Kind.TEXT and f.has_presence)
_FLAGS = tuple(f.name for f in FIELDS if f.columns and f.kind is Kind.FLAG)
_MESSAGES = tuple(f.name for f in FIELDS if f.columns and f.kind is Kind.MESSAGE)
_CLEARED = tuple((f.name, f.cleared) for f in FIELDS if f.kind is Kind.ENUM and f.cleared is not None)


def as_stored(user: User) -> User:
    """``user`` as it reads back: empty optional texts absent too (``normalize`` for the rest)."""
    for name in _OPTIONAL_TEXTS:
        if user.HasField(name) and not getattr(user, name):
            user.ClearField(name)
    return normalize(user)


def normalize(user: User) -> User:
    """Flags present (a cleared flag reads false), empty messages absent, cleared enums at their documented value."""
    for name in _FLAGS:
        setattr(user, name, getattr(user, name))
    for name in _MESSAGES:
        if user.HasField(name) and not getattr(user, name).ListFields():
            user.ClearField(name)
    for name, cleared in _CLEARED:
        if not getattr(user, name):
            setattr(user, name, cleared)
    return user
