"""The UserService servicer: request -> checks -> store -> reply.

Each method parses, authorizes, calls the store and converts. Mask rules live in
``field_masks``, field rules in ``validation``, SQL in ``store``, hashing in ``passwords``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from userservice.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc

from service import field_masks, schema, store
from service.auth import Principal, require, require_user_access
from service.context import principal
from service.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
    Violation,
)
from service.passwords import Hasher
from service.store import Change, Store, same_value
from service.validation import canonical, validate_password, validate_user

User = user_pb2.User
Context = grpc.aio.ServicerContext[Any, Any]
#: A route's own password rule: (password, username) -> violations.
PasswordRule = Callable[[str, str], list[Violation]]
DEFAULT_PAGE, MAX_PAGE = 50, 1000
FILTER_TERM = re.compile(r'\s*([a-z_]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s"]+)\s*')
FILTER_FIELDS = {"username": "username_canon", "email": "email_canon", "external_id": "external_id",
                 "state": "state", "role": "role", "email_verified": "email_verified"}


async def send_etag(context: Context, user: User) -> None:
    """Every reply that carries a user sends its etag as initial metadata (``ETag`` over REST)."""
    await context.send_initial_metadata((("etag", user.etag),))


def metadata_value(context: Context, name: str) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == name and isinstance(value, str):
            return value
    return ""


def check_request_id(request_id: str) -> None:
    if request_id:
        try:
            uuid.UUID(request_id)
        except ValueError:
            raise InvalidArgument([Violation("request_id", "must be a UUID")]) from None


def writable_fields(who: Principal) -> frozenset[str]:
    return schema.MUTABLE if who.is_admin else schema.SELF_SERVICE


def parse_filter(text: str) -> list[tuple[str, object]]:
    """``field = "value" AND ...`` on the fields of ``FILTER_FIELDS``."""
    where: list[tuple[str, object]] = []
    if not text.strip():
        return where
    for term in re.split(r"\s+AND\s+", text.strip()):
        m = FILTER_TERM.fullmatch(term)
        if not m or m.group(1) not in FILTER_FIELDS:
            raise InvalidArgument([Violation("filter", f"cannot read {term.strip()!r}: use field = \"value\" "
                                             f"AND ... on {', '.join(FILTER_FIELDS)}")])
        name, raw = m.groups()
        value = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
        column = FILTER_FIELDS[name]
        if name in ("username", "email"):
            where.append((column, canonical(value)))
        elif name == "state":
            if value not in User.State.keys():  # noqa: SIM118 - an enum wrapper, not a dict
                raise InvalidArgument([Violation("filter", f"unknown state {value!r}")])
            where.append((column, User.State.Value(value)))
        elif name == "email_verified":
            if value not in ("true", "false"):
                raise InvalidArgument([Violation("filter", "email_verified is true or false")])
            where.append((column, value == "true"))
        else:
            where.append((column, value))
    return where


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument([Violation("page_size", "must not be negative")])
    return min(requested or DEFAULT_PAGE, MAX_PAGE)


def new_user_violations(user: User) -> list[Violation]:
    """A user to create, validated as a whole; output-only fields are ignored."""
    out = validate_user(user)
    if user.HasField("password"):
        out += validate_password(user.password, user.username)
    return out


class UserService(user_service_pb2_grpc.UserServiceServicer):
    """Implements ``userservice.v1.UserService`` over a ``Store`` and a ``Hasher``."""

    def __init__(self, store: Store, hasher: Hasher) -> None:
        self.store = store
        self.hasher = hasher

    async def CreateUser(self, request: user_service_pb2.CreateUserRequest,
                         context: Context) -> User:
        who = principal()
        require(who, "admin")
        check_request_id(request.request_id)
        user = User()
        user.CopyFrom(request.user)
        for name in schema.IGNORED_IN_MASK:
            user.ClearField(name)
        if user.state == User.STATE_UNSPECIFIED:
            user.state = User.ACTIVE
        if user.auth_type == User.AUTH_TYPE_UNSPECIFIED:
            user.auth_type = User.PASSWORD
        violations = new_user_violations(user)
        if violations:
            raise InvalidArgument(violations)
        hashed = None
        if user.HasField("password") and not request.validate_only:
            hashed = await self.hasher.hash(user.password)
        created = self.store.create_user(who.tenant_id, user, password_hash=hashed, key_id=who.key_id,
                                         request_id=request.request_id, validate_only=request.validate_only)
        await send_etag(context, created)
        return created

    async def GetUser(self, request: user_service_pb2.GetUserRequest, context: Context) -> User:
        user = self.read(principal(), request.id)
        await send_etag(context, user)
        return user

    async def ListUsers(self, request: user_service_pb2.ListUsersRequest,
                        context: Context) -> user_service_pb2.ListUsersResponse:
        who = principal()
        require(who, "admin", "reader")
        size = page_size(request.page_size)
        where = parse_filter(request.filter)
        fp = store.fingerprint(who.tenant_id, request.filter, request.show_deleted)
        users, last = self.store.list_users(who.tenant_id, page_size=size,
                                            after_seq=store.read_page_token(request.page_token, fp),
                                            show_deleted=request.show_deleted, where=where)
        return user_service_pb2.ListUsersResponse(users=users, next_page_token=store.page_token(last, fp))

    async def UpdateUser(self, request: user_service_pb2.UpdateUserRequest,
                         context: Context) -> User:
        updated = await self.update(principal(), request, etag=metadata_value(context, "if-match"))
        await send_etag(context, updated)
        return updated

    async def update(self, who: Principal, request: user_service_pb2.UpdateUserRequest, *, etag: str = "",
                     method: str = "UpdateUser", password_rule: PasswordRule | None = None) -> User:
        """The one update path (AIP-134): UpdateUser and the seed adapters in ``service.compat`` call it.

        ``etag`` (an ``If-Match``) is used when ``request.user.etag`` is empty; ``method`` names the
        call in the audit log; ``password_rule`` adds a route's own password rule (seed 004's).
        """
        user_id = request.user.id
        if not user_id:
            raise InvalidArgument([Violation("id", "required: the id of the user to update")])
        check_request_id(request.request_id)
        writable = writable_fields(who)
        plan = field_masks.plan(request.update_mask.paths, request.user, writable=writable)

        derived = not request.update_mask.paths

        def authorize(current: User) -> None:
            if who.role == "reader":
                paths = ", ".join(plan.paths) or "(none)"
                raise PermissionDenied(f"a reader key cannot write; this request writes: {paths}",
                                       reason="FIELD_NOT_WRITABLE", metadata={"paths": ",".join(plan.paths),
                                                                              "role": "reader"})
            require_user_access(who, user_id, write=True)
            forbidden = sorted(f for f in plan.fields - writable
                               # With no mask, a field sent back unchanged (a GET body PATCHed back) is not
                               # a change: only what would really change is refused.
                               if not derived or f == "password" or not same_value(request.user, current, f))
            if forbidden:
                hint = " (a user key changes its password with ChangePassword)" if "password" in forbidden else ""
                raise PermissionDenied(f"this key may not change: {', '.join(forbidden)}{hint}",
                                       reason="FIELD_NOT_WRITABLE", metadata={"paths": ",".join(forbidden)})

        # A user of another tenant is NOT_FOUND before anything else is said about it. A new password
        # is hashed before the write transaction, so that path reads the user first; every other
        # update authorizes on the row the transaction reads (one read, same order of answers), unless
        # a request_id may replay a stored reply, which must not come before the checks.
        password = request.user.password if "password" in plan.fields else None

        def password_violations(username: str) -> list[Violation]:
            if password is None:
                return []
            return validate_password(password, username) + (password_rule(password, username)
                                                            if password_rule else [])

        hashed, check = None, None
        if password is not None or request.request_id:
            current = self.store.get_user(who.tenant_id, user_id)
            authorize(current)
            owner = request.user if "username" in plan.fields else current
            if password is not None and not request.validate_only and not password_violations(owner.username):
                hashed = await self.hasher.hash(password)
        else:
            check = authorize

        def mutate(current: User) -> Change:
            if current.state == User.DELETED:
                raise FailedPrecondition("the user is deleted; undelete it first", reason="USER_DELETED")
            new = field_masks.apply(current, request.user, plan)
            violations = validate_user(new) + password_violations(new.username)
            if violations:
                raise InvalidArgument(violations)
            return Change(new, list(plan.paths), hashed)

        return self.store.update_user(who.tenant_id, user_id, mutate, key_id=who.key_id, method=method,
                                      etag=request.user.etag or etag, request_id=request.request_id,
                                      validate_only=request.validate_only, check=check)

    def read(self, who: Principal, user_id: str) -> User:
        """A user the caller may read (NOT_FOUND in another tenant, PERMISSION_DENIED otherwise)."""
        user = self.store.get_user(who.tenant_id, user_id)
        require_user_access(who, user.id, write=False)
        return user

    def set_state(self, who: Principal, request_id: str, user_id: str, etag: str, method: str, want: int) -> User:
        """DeleteUser (``want`` DELETED) and UndeleteUser (``want`` ACTIVE); seed 004's ``status`` too."""
        check_request_id(request_id)
        self.store.get_user(who.tenant_id, user_id)
        require(who, "admin")

        def mutate(current: User) -> Change:
            if want == User.DELETED and current.state == User.DELETED:
                raise FailedPrecondition("the user is already deleted", reason="USER_DELETED")
            if want == User.ACTIVE and current.state != User.DELETED:
                raise AlreadyExists("the user is not deleted", reason="USER_NOT_DELETED")
            new = User()
            new.CopyFrom(current)
            new.state = want  # type: ignore[assignment]
            return Change(new, ["state"])

        return self.store.update_user(who.tenant_id, user_id, mutate, key_id=who.key_id, method=method,
                                      etag=etag, request_id=request_id)

    async def DeleteUser(self, request: user_service_pb2.DeleteUserRequest,
                         context: Context) -> User:
        return await self._change_state(request, context, "DeleteUser", User.DELETED)

    async def UndeleteUser(self, request: user_service_pb2.UndeleteUserRequest,
                           context: Context) -> User:
        return await self._change_state(request, context, "UndeleteUser", User.ACTIVE)

    async def _change_state(self, request: user_service_pb2.DeleteUserRequest | user_service_pb2.UndeleteUserRequest,
                            context: Context, method: str, want: int) -> User:
        user = self.set_state(principal(), request.request_id, request.id,
                              request.etag or metadata_value(context, "if-match"), method, want)
        await send_etag(context, user)
        return user

    async def ChangePassword(self, request: user_service_pb2.ChangePasswordRequest,
                             context: Context) -> User:
        who = principal()
        check_request_id(request.request_id)
        current, stored_hash = self.store.get_user_and_hash(who.tenant_id, request.id)
        if who.role == "reader":
            raise PermissionDenied("a reader key cannot write")
        require_user_access(who, request.id, write=True)
        violations = [Violation("current_password", "required")] if not request.current_password else []
        violations += [Violation("new_password", v.description)
                       for v in validate_password(request.new_password, current.username)]
        if violations:
            raise InvalidArgument(violations)
        verdict = await self.hasher.verify(request.current_password, stored_hash)
        if not verdict.ok:
            raise InvalidArgument([Violation("current_password", "does not match")], reason="WRONG_PASSWORD")
        hashed = await self.hasher.hash(request.new_password)

        def mutate(current: User) -> Change:
            if current.state == User.DELETED:
                raise FailedPrecondition("the user is deleted", reason="USER_DELETED")
            new = User()
            new.CopyFrom(current)
            new.require_password_change = False
            return Change(new, ["password", "require_password_change"], hashed)

        user = self.store.update_user(who.tenant_id, request.id, mutate, key_id=who.key_id,
                                      method="ChangePassword", request_id=request.request_id)
        await send_etag(context, user)
        return user

    async def VerifyPassword(self, request: user_service_pb2.VerifyPasswordRequest,
                             context: Context) -> user_service_pb2.VerifyPasswordResponse:
        who = principal()
        require(who, "admin")
        if bool(request.username) == bool(request.email):
            raise InvalidArgument([Violation("username", "give exactly one of username and email")])
        if not request.password:
            raise InvalidArgument([Violation("password", "required")])
        found = self.store.find_login(who.tenant_id, username=request.username, email=request.email)
        user, stored = found if found else (None, None)
        if user is not None and user.state == User.DELETED:
            user, stored = None, None
        verdict = await self.hasher.verify(request.password, stored)
        if user is None:
            raise Unauthenticated("wrong username, e-mail or password", reason="INVALID_CREDENTIALS")
        if verdict.ok and user.state == User.LOCKED:  # the right password, but no login: nothing recorded
            raise PermissionDenied("the user is locked", reason="USER_LOCKED")
        user = self.store.record_login(who.tenant_id, user.id, verdict.ok, verdict.rehash if verdict.ok else None)
        if not verdict.ok:
            raise Unauthenticated("wrong username, e-mail or password", reason="INVALID_CREDENTIALS")
        await send_etag(context, user)
        return user_service_pb2.VerifyPasswordResponse(user=user)

    async def ListUserChanges(self, request: user_service_pb2.ListUserChangesRequest,
                              context: Context) -> user_service_pb2.ListUserChangesResponse:
        who = principal()
        self.store.get_user(who.tenant_id, request.id)
        require(who, "admin")
        fp = store.fingerprint(who.tenant_id, request.id)
        rows, last = self.store.list_changes(who.tenant_id, request.id, page_size=page_size(request.page_size),
                                             after_seq=store.read_page_token(request.page_token, fp))
        changes = [user_pb2.UserChange(sequence=r.seq, user_id=r.user_id, key_id=r.key_id, method=r.method,
                                       paths=_loads_list(r.paths), old_values=r.old_values,
                                       new_values=r.new_values) for r in rows]
        for change, row in zip(changes, rows, strict=True):
            change.change_time.FromMicroseconds(row.change_time)
        return user_service_pb2.ListUserChangesResponse(changes=changes, next_page_token=store.page_token(last, fp))


def _loads_list(text: str) -> Sequence[str]:
    return [str(p) for p in json.loads(text)]
