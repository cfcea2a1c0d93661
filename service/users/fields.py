"""THE field table of ``User``: what each field is, how it is stored, validated, cleared and filtered.

Built from the proto descriptor (``google.api.field_behavior``, ``userservice.v1.field_access``,
types and presence), plus ``OVERRIDES``: what the descriptor cannot say (column types of released
columns, a value rule, the value a cleared enum takes, a coupling such as "a new e-mail resets
``email_verified``", the unique index, the ListUsers filter, an example value for test generators).
Masks, validation, row mapping, audit JSON, ListUsers filters and the tests all read this table;
no other module lists ``User`` fields.

A new field in the proto needs no line here when the defaults fit: a string is a nullable TEXT
column of the same name, at most 256 characters, one line with no control characters (every text
field follows ``rules.control``); a bool, an enum, a message, a map or a repeated
field gets the column its kind implies (docs/api.md, "Adding a field").
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import peewee as pw
from google.api import field_behavior_pb2
from google.protobuf.descriptor import FieldDescriptor
from userservice.v1 import field_access_pb2, user_pb2

from service.errors import Violation
from service.users import rules

User = user_pb2.User
USER: Any = User.DESCRIPTOR
ADDRESS: Any = user_pb2.Address.DESCRIPTOR
DEFAULT_TEXT_LIMIT = 256
_SORTED_JSON = json.JSONEncoder(sort_keys=True).encode


class Row(Protocol):
    """A row of the users table, read by column name."""

    def __getitem__(self, name: str) -> Any: ...


class Kind(enum.Enum):
    TEXT = "text"
    FLAG = "flag"
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
        elif kind is Kind.ENUM:
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

    def from_row(self, user: User, row: Row) -> None:
        """Set this field of ``user`` from a row (a mapping of column name -> value)."""
        value = row[self.columns[0].name]
        kind = self.kind
        if kind is Kind.FLAG:
            setattr(user, self.name, bool(value))  # always present in replies
        elif value is None:
            return
        elif kind is Kind.TEXT or kind is Kind.ENUM:
            setattr(user, self.name, value)
        elif kind is Kind.MESSAGE:
            getattr(user, self.name).CopyFrom(type(getattr(user, self.name))(**json.loads(value)))
        elif kind is Kind.MAP:
            getattr(user, self.name).update(json.loads(value))
        elif kind is Kind.LIST:
            getattr(user, self.name).extend(json.loads(value))
        else:  # TIME
            getattr(user, self.name).FromMicroseconds(value)

    # ---- values -----------------------------------------------------------------------------
    def same(self, a: User, b: User) -> bool:
        """Whether two users hold the same value here (presence included)."""
        if self.has_presence and a.HasField(self.name) != b.HasField(self.name):
            return False
        return bool(getattr(a, self.name) == getattr(b, self.name))

    def violations(self, user: User) -> list[Violation]:
        """This field's rule over ``user`` (a whole, merged user)."""
        if self.check is not None:
            return self.check(user, self.name)
        if self.kind is not Kind.TEXT or self.secret:
            return []
        value = getattr(user, self.name)
        if not value:
            return [Violation(self.name, "required")] if self.required else []
        problem = rules.control(value) or (self.rule(value) if self.rule else None)
        return [Violation(self.name, problem)] if problem else []


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
    return Kind.TEXT


def _default_column(name: str, kind: Kind, has_presence: bool) -> Column:
    if kind is Kind.TEXT:
        return Column(name, lambda: pw.TextField(null=has_presence))  # type: ignore[call-overload]
    if kind is Kind.FLAG:
        return Column(name, lambda: pw.BooleanField(default=False))
    if kind is Kind.ENUM:
        return Column(name, lambda: pw.IntegerField())
    if kind is Kind.TIME:
        return Column(name, lambda: pw.BigIntegerField(null=True))
    return Column(name, lambda: pw.TextField(null=True))  # JSON of a message, map or list


def _enum_check(allowed: frozenset[int], description: str) -> Callable[[User, str], list[Violation]]:
    def check(user: User, name: str) -> list[Violation]:
        return [] if getattr(user, name) in allowed else [Violation(name, description)]
    return check


def _address_check(user: User, name: str) -> list[Violation]:
    if not user.HasField(name):
        return []
    value = getattr(user, name)
    out: list[Violation] = []
    for part, chars in ADDRESS_LIMITS.items():
        text = getattr(value, part)
        problem = ((rules.control_in_lines if part in ADDRESS_LINES else rules.control)(text)
                   or (f"at most {chars} characters" if len(text) > chars else None))
        if problem:
            out.append(Violation(f"{name}.{part}", problem))
    return out


def _attributes_check(user: User, name: str) -> list[Violation]:
    return [Violation(path, text) for path, text in rules.attributes(getattr(user, name), name)]


def _roles_check(user: User, name: str) -> list[Violation]:
    return [Violation(name, text) for text in rules.roles(list(getattr(user, name)))]


def _char(length: int, null: bool = True, unique: bool = False) -> Callable[[], pw.Field]:
    return lambda: pw.CharField(max_length=length, null=null, unique=unique)  # type: ignore[call-overload]


#: Parts of the OIDC address and their length limits (``formatted`` may hold the whole address).
ADDRESS_LIMITS = {"formatted": 1024, "street_address": 256, "locality": 256, "region": 256,
                  "postal_code": 64, "country": 256}
#: Parts that may span lines (OIDC: ``formatted`` MAY contain newlines); every other text is one line.
ADDRESS_LINES = frozenset({"formatted"})
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
    "address": {"check": _address_check},
    "attributes": {"check": _attributes_check},
    "roles": {"check": _roles_check, "filter": ("role", Filter.CONTAINS), "example": ["walker"]},
    "state": {"cleared": User.ACTIVE, "filter": ("state", Filter.ENUM), "example": User.LOCKED,
              "check": _enum_check(_STATE_ALLOWED, "must be ACTIVE or LOCKED (DELETED only through DeleteUser)")},
    "auth_type": {"cleared": User.PASSWORD, "example": User.TWO_FACTOR,
                  "check": _enum_check(frozenset(User.AuthType.values()), "unknown auth type")},
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


def user_from_row(row: Row) -> User:
    """A ``User`` from a row of the users table (no secret, no tenant)."""
    user = User()
    for f in STORED:
        f.from_row(user, row)
    return user


def as_stored(user: User) -> User:
    """``user`` as it reads back: empty optional texts absent too (``normalize`` for the rest)."""
    for f in STORED:
        if f.kind is Kind.TEXT and f.has_presence and user.HasField(f.name) and not getattr(user, f.name):
            user.ClearField(f.name)
    return normalize(user)


def normalize(user: User) -> User:
    """Flags present (a cleared flag reads false), empty messages absent, cleared enums at their documented value."""
    for f in STORED:
        kind = f.kind
        if kind is Kind.FLAG:
            setattr(user, f.name, getattr(user, f.name))
        elif kind is Kind.MESSAGE:
            if user.HasField(f.name) and not _filled(getattr(user, f.name)):
                user.ClearField(f.name)
        elif kind is Kind.ENUM and f.cleared is not None and not getattr(user, f.name):
            setattr(user, f.name, f.cleared)
    return user


def _filled(value: Any) -> bool:
    return bool(value) if isinstance(value, str) else bool(value.ListFields())


def values_json(user: User, names: list[str]) -> str:
    """JSON of the named non-secret fields of ``user``, for audit records (never the password)."""
    from google.protobuf import json_format

    chosen = [BY_NAME[name] for name in names if not BY_NAME[name].secret]
    if all(f.kind is Kind.TEXT for f in chosen):  # the common case, without protobuf's JSON machinery
        return _SORTED_JSON({f.name: getattr(user, f.name) for f in chosen
                             if (user.HasField(f.name) if f.has_presence else getattr(user, f.name))})
    partial = User()
    for name in names:
        f = BY_NAME[name]
        if f.secret or (f.has_presence and not user.HasField(name)):
            continue
        value = getattr(user, name)
        if f.kind in (Kind.TEXT, Kind.FLAG, Kind.ENUM):
            setattr(partial, name, value)
        elif f.kind in (Kind.MESSAGE, Kind.TIME):
            getattr(partial, name).CopyFrom(value)
        else:
            getattr(partial, name).MergeFrom(value)
    return _SORTED_JSON(json_format.MessageToDict(partial, preserving_proto_field_name=True))
