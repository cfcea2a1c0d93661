"""UpdateUser's rules as one visible pipeline, and every other write as a command of the same kind.

No I/O here. A servicer *prepares* a command from the request and the caller (mask parsed, request
id checked, password hashed); the store runs ``command.execute(current, now)`` inside its write
transaction, on the row it has just read and locked, and writes what the returned ``Change`` says.
``Update.execute`` is the order of UpdateUser's answers (docs/api.md, "UpdateUser"):

    authorize -> deleted? -> etag -> apply the mask -> validate the whole user -> change

(NOT_FOUND comes before all of them: the store finds no row). Commands are plain frozen dataclasses,
so SQLite's writer process (``service.writer``) receives them as they are. The other writes (delete and
undelete, ChangePassword, VerifyPassword's outcome, UnlockUser, CreateUser) are commands of the same kind,
in ``service.users.commands``.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Protocol

from google.protobuf.message import Message
from userservice.v1 import user_pb2, user_service_pb2

from service.auth import Principal, require_user_access
from service.errors import Aborted, InvalidArgument, PermissionDenied, Violation
from service.errors import FailedPrecondition as _Precondition
from service.users import fields, lockout, lookup, masks
from service.users.validation import validate_user

User = user_pb2.User


@dataclass(frozen=True, slots=True)
class Change:
    """What a command does to a user: the user after it, the paths it names (for the audit record),
    the fields it may have changed (only those that differ are written), and a new password hash."""

    user: User
    paths: tuple[str, ...]
    fields: frozenset[str]
    password_hash: str | None = None
    audit: bool = True
    touch: bool = True  # a new ``update_time``


class Command(Protocol):
    """A write the store runs in one transaction on one user's locked row."""

    @property
    def tenant_id(self) -> int: ...
    @property
    def user_id(self) -> str: ...
    @property
    def key_id(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def request_id(self) -> str: ...
    @property
    def validate_only(self) -> bool: ...
    @property
    def digest(self) -> str: ...  # of the request, kept with its request id (``request_digest``)

    def execute(self, current: User, now: int) -> Change: ...


def same_etag(given: str, current: str) -> bool:
    """Whether an etag or ``If-Match`` value matches (RFC 9110): ``*``, or a comma-separated list of
    tags, each quoted, unquoted or weak (``W/``)."""
    def bare(tag: str) -> bytes:
        return tag.strip().removeprefix("W/").strip('"').encode()
    if given.strip() == "*":
        return True
    want = bare(current)
    return any(secrets.compare_digest(bare(tag), want) for tag in given.split(","))


def new_etag() -> str:
    """A strong etag, quoted as RFC 9110 wants it, so the same string serves JSON and HTTP."""
    return '"' + secrets.token_urlsafe(12) + '"'


def check_etag(etag: str, current: User) -> None:
    if etag and not same_etag(etag, current.etag):
        raise Aborted("the user changed since this etag was read; read it again", metadata={"etag": current.etag})


def check_request_id(request_id: str) -> None:
    if request_id:
        try:
            uuid.UUID(request_id)
        except ValueError:
            raise InvalidArgument([Violation("request_id", "must be a UUID")]) from None


def request_digest(method: str, *parts: object) -> str:
    """SHA-256 (hex) of what a request asks, kept with its request id (AIP-155): the same id with another
    request is refused. Callers leave out the request id and the password's value (a fast digest of a
    password would be a weak password hash, kept for a day), but keep whether a password was sent."""
    digest = hashlib.sha256(method.encode())
    for part in parts:
        data = part.SerializeToString(deterministic=True) if isinstance(part, Message) else repr(part).encode()
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def scrubbed(request: Message) -> Message:
    """``request`` without its request id, and with its user's password (if any) replaced by ``""``."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("request_id")
    user = getattr(copy, "user", None)
    if user is not None and user.HasField(fields.SECRET.name):
        setattr(user, fields.SECRET.name, "")
    return copy


DEFAULT_POLICY = lockout.LoginPolicy()


def writable_fields(who: Principal) -> frozenset[str]:
    return fields.MUTABLE if who.is_admin else fields.SELF_SERVICE


class Caller:
    """The caller's tenant and key, for the store (commands carry the whole ``Principal``)."""

    __slots__ = ()
    who: Principal

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled as the constructor's arguments: a command crosses to the writer process on every write,
        and a frozen dataclass's own pickling (``__setstate__`` over ``fields()``) costs several times more."""
        names: tuple[str, ...] = self.__slots__
        return type(self), tuple(getattr(self, name) for name in names)

    @property
    def tenant_id(self) -> int:
        return self.who.tenant_id

    @property
    def key_id(self) -> str:
        return self.who.key_id


# ---- UpdateUser (and the seed routes) ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Update(Caller):
    who: Principal
    user_id: str
    user: User  # the request's values
    plan: masks.Plan
    derived: bool = False  # no mask was sent: the populated fields are the mask
    etag: str = ""
    request_id: str = ""
    validate_only: bool = False
    method: str = "UpdateUser"
    password_hash: str | None = None
    password_violations: tuple[Violation, ...] = ()
    state: int | None = None  # seed 004: DELETED, or ACTIVE to undelete, together with the fields
    refusals: tuple[Violation, ...] = field(default=())  # a route's own violations, reported with the rest
    digest: str = ""

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled flat: the caller's fields, the user's bytes, the plan's paths and the other fields as they
        are, with no class but this function's name (the hottest crossing to the writer process: a third
        of the CPU of nested pickling)."""
        return _update, (_CALLER(self.who), self.user_id, self.user.SerializeToString(), self.plan.paths,
                         _REST(self))

    def execute(self, current: User, now: int) -> Change:
        authorize(self, current)
        base = _undeleted(current) if self.state == User.ACTIVE else current
        if base.state == User.DELETED:
            raise _Precondition("the user is deleted; undelete it first", reason="USER_DELETED")
        check_etag(self.etag, current)
        new = masks.apply(base, self.user, self.plan)
        violations = [*self.refusals, *validate_user(new), *self.password_violations]
        if violations:
            raise InvalidArgument(violations)
        changed = self.plan.fields
        if self.state is not None:
            new.state = self.state  # type: ignore[assignment]
            changed = changed | {"state"}
        return Change(new, self.plan.paths, changed | _resets(changed), self.password_hash)


def _update(who: tuple[Any, ...], user_id: str, user: bytes, paths: tuple[str, ...], rest: tuple[Any, ...]) -> Update:
    return Update(Principal(*who), user_id, User.FromString(user), masks.plan_of(paths), *rest)


#: What ``Update.__reduce__`` sends as it is: the caller's fields, and every field after the four it encodes.
_CALLER = attrgetter(*Principal.__slots__)
assert Update.__slots__[:4] == ("who", "user_id", "user", "plan")
_REST = attrgetter(*Update.__slots__[4:])


def _undeleted(current: User) -> User:
    base = User()
    base.CopyFrom(current)
    if base.state == User.DELETED:
        base.state = User.ACTIVE
    return base


def _resets(changed: frozenset[str]) -> frozenset[str]:
    return frozenset(f.resets for f in fields.FIELDS if f.resets and f.name in changed)


def authorize(command: Update, current: User) -> None:
    """PERMISSION_DENIED for a caller who may not make this change (a reader, another user's key,
    or a field the key may not write). With no mask, a field sent back unchanged (a GET body PATCHed
    back) is not a change: only what would really change is refused."""
    who = command.who
    paths = command.plan.paths
    if who.role == "reader":
        raise PermissionDenied(f"a reader key cannot write; this request writes: {', '.join(paths) or '(none)'}",
                               reason="FIELD_NOT_WRITABLE", metadata={"paths": ",".join(paths), "role": "reader"})
    require_user_access(who, command.user_id, write=True)
    writable = writable_fields(who)
    forbidden = sorted(f for f in command.plan.fields - writable if not command.derived
                       or fields.field(f).secret or not fields.field(f).same(command.user, current))
    if command.state is not None and command.state != current.state and "state" not in writable:
        forbidden = sorted({*forbidden, "state"})
    if forbidden:
        hint = " (a user key changes its password with ChangePassword)" if fields.SECRET.name in forbidden else ""
        raise PermissionDenied(f"this key may not change: {', '.join(forbidden)}{hint}",
                               reason="FIELD_NOT_WRITABLE", metadata={"paths": ",".join(forbidden)})


def prepare_update(who: Principal, request: user_service_pb2.UpdateUserRequest, *, etag: str = "",
                   method: str = "UpdateUser", state: int | None = None,
                   refusals: tuple[Violation, ...] = ()) -> Update:
    """The command of an UpdateUser request (the mask parsed and checked); the password is hashed later."""
    if not request.user.id:
        raise InvalidArgument([Violation("id", "required: the id of the user to update")])
    lookup.user_id(request.user.id)
    check_request_id(request.request_id)
    plan = masks.plan(request.update_mask.paths, request.user, writable=writable_fields(who))
    digest = request_digest(method, scrubbed(request), etag, state) if request.request_id else ""
    return Update(who, request.user.id, request.user, plan, derived=not request.update_mask.paths,
                  etag=request.user.etag or etag, request_id=request.request_id,
                  validate_only=request.validate_only or bool(refusals), method=method, state=state,
                  refusals=refusals, digest=digest)


def new_password(command: Update) -> str | None:
    """The password the command sets, if its mask names one."""
    return command.user.password if fields.SECRET.name in command.plan.fields else None
