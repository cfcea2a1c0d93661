"""Every write besides UpdateUser, as a command of the same kind as ``service.users.update.Update``.

No I/O here: the store runs ``command.execute(current, now)`` in its write transaction on the user's
locked row (``Create`` has no row: the store inserts its user). DeleteUser and UndeleteUser are
``SetState``, ChangePassword ``SetPassword``, VerifyPassword's outcome ``RecordLogin``, UnlockUser
``Unlock``, CreateUser ``Create``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from userservice.v1 import user_pb2, user_service_pb2

from service.auth import Principal, require, require_user_access
from service.errors import AlreadyExists, InvalidArgument, Unauthenticated, Violation
from service.errors import FailedPrecondition as _Precondition
from service.users import fields, lockout
from service.users.update import (
    DEFAULT_POLICY,
    Caller,
    Change,
    check_etag,
    check_request_id,
    request_digest,
    scrubbed,
)
from service.users.validation import validate_password, validate_user

User = user_pb2.User


@dataclass(frozen=True, slots=True)
class SetState(Caller):
    """DeleteUser (``state`` DELETED) and UndeleteUser (``state`` ACTIVE)."""

    who: Principal
    user_id: str
    state: int
    method: str
    etag: str = ""
    request_id: str = ""
    validate_only: bool = False
    digest: str = ""

    def execute(self, current: User, now: int) -> Change:
        require(self.who, "admin")
        check_etag(self.etag, current)
        if self.state == User.DELETED and current.state == User.DELETED:
            raise _Precondition("the user is already deleted", reason="USER_DELETED")
        if self.state == User.ACTIVE and current.state != User.DELETED:
            raise AlreadyExists("the user is not deleted", reason="USER_NOT_DELETED")
        new = User()
        new.CopyFrom(current)
        new.state = self.state  # type: ignore[assignment]
        return Change(new, ("state",), frozenset({"state"}))


@dataclass(frozen=True, slots=True)
class SetPassword(Caller):
    """ChangePassword, once the current password has been verified and the new one hashed."""

    who: Principal
    user_id: str
    password_hash: str
    request_id: str = ""
    method: str = "ChangePassword"
    validate_only: bool = False
    digest: str = ""

    def execute(self, current: User, now: int) -> Change:
        require_user_access(self.who, self.user_id, write=True)
        if current.state == User.DELETED:
            raise _Precondition("the user is deleted", reason="USER_DELETED")
        new = User()
        new.CopyFrom(current)
        new.require_password_change = False
        return Change(new, (fields.SECRET.name, "require_password_change"), frozenset({"require_password_change"}),
                      self.password_hash)


@dataclass(frozen=True, slots=True)
class RecordLogin(Caller):
    """VerifyPassword's outcome, once the password was checked (``service.users.lockout``).

    A user locked meanwhile (state LOCKED, or locked out by failures recorded since the attempt began)
    is refused whatever the outcome, and nothing is written. A success records the login time, resets
    the failure count and may store a rehashed password; a failure records its time and counts, and the
    failure that starts a lockout is audited. The etag changes; ``update_time`` does not.
    """

    who: Principal
    user_id: str
    ok: bool
    rehash: str | None = None
    policy: lockout.LoginPolicy = DEFAULT_POLICY
    method: str = "VerifyPassword"
    request_id: str = ""
    validate_only: bool = False
    digest: str = ""

    def execute(self, current: User, now: int) -> Change:
        if current.state == User.DELETED:
            raise Unauthenticated("wrong username, e-mail or password", reason="INVALID_CREDENTIALS")
        refused = lockout.refusal(current, now)
        if refused is not None:
            raise refused
        new = User()
        new.CopyFrom(current)
        counters = frozenset({"failed_login_count", "lockout_end_time"})
        if self.ok:
            new.last_login_time.FromMicroseconds(now)
            new.failed_login_count = 0
            new.ClearField("lockout_end_time")
            return Change(new, (), counters | {"last_login_time"}, self.rehash, audit=False, touch=False)
        new.last_failed_login_time.FromMicroseconds(now)
        new.failed_login_count = failures = self.policy.failures(current, now) + 1
        wait = self.policy.lockout(failures)
        if wait:
            new.lockout_end_time.FromMicroseconds(now + wait)
        return Change(new, ("failed_login_count", "lockout_end_time"), counters | {"last_failed_login_time"},
                      audit=bool(wait), touch=False)


@dataclass(frozen=True, slots=True)
class Unlock(Caller):
    """UnlockUser: a lockout after failed logins ends (the count restarts), and a LOCKED user becomes ACTIVE."""

    who: Principal
    user_id: str
    etag: str = ""
    request_id: str = ""
    method: str = "UnlockUser"
    validate_only: bool = False
    digest: str = ""

    def execute(self, current: User, now: int) -> Change:
        require(self.who, "admin")
        check_etag(self.etag, current)
        if current.state == User.DELETED:
            raise _Precondition("the user is deleted; undelete it first", reason="USER_DELETED")
        new = User()
        new.CopyFrom(current)
        if new.state == User.LOCKED:
            new.state = User.ACTIVE
        new.failed_login_count = 0
        new.ClearField("lockout_end_time")
        names = ("state", "failed_login_count", "lockout_end_time")
        return Change(new, names, frozenset(names))


@dataclass(frozen=True, slots=True)
class Create(Caller):
    """CreateUser: a validated user; the store gives it an id, times and an etag."""

    who: Principal
    user: User
    password_hash: str | None = None
    request_id: str = ""
    validate_only: bool = False
    method: str = "CreateUser"
    user_id: str = ""
    digest: str = ""


def prepare_create(who: Principal, request: user_service_pb2.CreateUserRequest,
                   password_rule: Callable[[str, str], list[Violation]] | None = None) -> Create:
    """The user to create, with output-only fields dropped and cleared enums defaulted, validated as a whole;
    ``password_rule``: the rule of new passwords (the server's ``Hasher.check_new``)."""
    require(who, "admin")
    check_request_id(request.request_id)
    user = User()
    user.CopyFrom(request.user)
    for name in fields.IGNORED_IN_MASK:
        user.ClearField(name)
    fields.as_stored(user)
    violations = validate_user(user)
    if user.HasField("password"):
        violations += (password_rule or validate_password)(user.password, user.username)
    if violations:
        raise InvalidArgument(violations)
    digest = request_digest("CreateUser", scrubbed(request)) if request.request_id else ""
    return Create(who, user, request_id=request.request_id, validate_only=request.validate_only, digest=digest)
