"""The UserService servicer: parse, authorize, call the store, convert. Each method is short.

Mask rules live in ``masks``, field rules in the field table and ``validation``, the update pipeline
in ``update``, SQL in ``service.storage``, hashing in ``service.passwords``. Writes go through
``writes`` (``service.writer``): run here, or in SQLite's writer process; the code is the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import grpc
from userservice.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc

from service.auth import Principal, require, require_user_access
from service.context import principal
from service.errors import InvalidArgument, PermissionDenied, Unauthenticated, Violation
from service.passwords import Hasher
from service.storage import Store
from service.users import fields, listing
from service.users.update import (
    Command,
    Create,
    RecordLogin,
    SetPassword,
    SetState,
    Update,
    authorize,
    check_request_id,
    new_password,
    prepare_create,
    prepare_update,
)
from service.users.validation import validate_password

User = user_pb2.User
Context = grpc.aio.ServicerContext[Any, Any]
#: A route's own password rule: (password, username) -> violations.
PasswordRule = Callable[[str, str], list[Violation]]
T = TypeVar("T")


class Writes(Protocol):
    """Where database work runs: ``service.writer.InProcess`` or ``WriterClient`` (SQLite: reads inline),
    ``service.dbthreads.Threads`` (PostgreSQL: commands and reads on a thread pool, off the event loop)."""

    async def run(self, command: Command) -> User: ...
    async def create(self, command: Create) -> User: ...
    async def call(self, fn: Callable[..., T], *args: Any) -> T: ...


async def send_etag(context: Context, user: User) -> None:
    """Every reply that carries a user sends its etag as initial metadata (``ETag`` over REST)."""
    await context.send_initial_metadata((("etag", user.etag),))


def metadata_value(context: Context, name: str) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == name and isinstance(value, str):
            return value
    return ""


def without_password(user: User) -> User:
    copy = User()
    copy.CopyFrom(user)
    copy.ClearField(fields.SECRET.name)
    return copy


class UserService(user_service_pb2_grpc.UserServiceServicer):
    """Implements ``userservice.v1.UserService`` over a ``Store``, a ``Hasher`` and ``Writes``."""

    def __init__(self, store: Store, hasher: Hasher, writes: Writes) -> None:
        self.store = store
        self.hasher = hasher
        self.writes = writes

    async def CreateUser(self, request: user_service_pb2.CreateUserRequest, context: Context) -> User:
        command = prepare_create(principal(), request)
        hashed = None
        if command.user.HasField(fields.SECRET.name) and not request.validate_only:
            hashed = await self.hasher.hash(command.user.password)
        created = await self.writes.create(dataclasses.replace(command, user=without_password(command.user),
                                                               password_hash=hashed))
        await send_etag(context, created)
        return created

    async def GetUser(self, request: user_service_pb2.GetUserRequest, context: Context) -> User:
        user = await self.writes.call(self.read, principal(), request.id)
        await send_etag(context, user)
        return user

    async def ListUsers(self, request: user_service_pb2.ListUsersRequest,
                        context: Context) -> user_service_pb2.ListUsersResponse:
        who = principal()
        require(who, "admin", "reader")
        size = listing.page_size(request.page_size)
        where = listing.parse_filter(request.filter)
        fp = listing.fingerprint(who.tenant_id, request.filter, request.show_deleted)
        after = listing.read_page_token(request.page_token, fp)
        users, last = await self.writes.call(lambda: self.store.users.page(
            who.tenant_id, page_size=size, after_seq=after, show_deleted=request.show_deleted, where=where))
        return user_service_pb2.ListUsersResponse(users=users, next_page_token=listing.page_token(last, fp))

    async def UpdateUser(self, request: user_service_pb2.UpdateUserRequest, context: Context) -> User:
        updated = await self.update(principal(), request, etag=metadata_value(context, "if-match"))
        await send_etag(context, updated)
        return updated

    async def update(self, who: Principal, request: user_service_pb2.UpdateUserRequest, *, etag: str = "",
                     method: str = "UpdateUser", password_rule: PasswordRule | None = None,
                     state: int | None = None, refusals: tuple[Violation, ...] = ()) -> User:
        """The one update path (AIP-134): UpdateUser, the seed adapters and SCIM call it.

        ``etag`` (an ``If-Match``) is used when ``request.user.etag`` is empty; ``method`` names the
        call in the audit log; ``password_rule`` adds a route's own password rule (seed 004's);
        ``state`` changes the state in the same command; ``refusals`` are a route's own violations.
        """
        command = prepare_update(who, request, etag=etag, method=method, state=state, refusals=refusals)
        password = new_password(command)
        if password is not None or command.request_id:
            # NOT_FOUND, then PERMISSION_DENIED, before a hash is computed or a stored reply replayed.
            current = await self.writes.call(self.store.users.get, who.tenant_id, command.user_id)
            authorize(command, current)
        if password is not None:
            command = await self._with_hash(command, password, current, password_rule)
        return await self.writes.run(command)

    async def _with_hash(self, command: Update, password: str, current: User, rule: PasswordRule | None) -> Update:
        owner = command.user.username if "username" in command.plan.fields else current.username
        violations = validate_password(password, owner) + (rule(password, owner) if rule else [])
        hashed = None
        if not violations and not command.validate_only:
            hashed = await self.hasher.hash(password)
        return dataclasses.replace(command, user=without_password(command.user), password_hash=hashed,
                                   password_violations=tuple(violations))

    def read(self, who: Principal, user_id: str) -> User:
        """A user the caller may read (NOT_FOUND in another tenant, PERMISSION_DENIED otherwise)."""
        user = self.store.users.get(who.tenant_id, user_id)
        require_user_access(who, user.id, write=False)
        return user

    async def set_state(self, who: Principal, request_id: str, user_id: str, etag: str, method: str,
                        want: int) -> User:
        """DeleteUser (``want`` DELETED) and UndeleteUser (``want`` ACTIVE)."""
        check_request_id(request_id)
        return await self.writes.run(SetState(who, user_id, want, method, etag, request_id))

    async def DeleteUser(self, request: user_service_pb2.DeleteUserRequest, context: Context) -> User:
        return await self._change_state(request, context, "DeleteUser", User.DELETED)

    async def UndeleteUser(self, request: user_service_pb2.UndeleteUserRequest, context: Context) -> User:
        return await self._change_state(request, context, "UndeleteUser", User.ACTIVE)

    async def _change_state(self, request: user_service_pb2.DeleteUserRequest | user_service_pb2.UndeleteUserRequest,
                            context: Context, method: str, want: int) -> User:
        user = await self.set_state(principal(), request.request_id, request.id,
                                    request.etag or metadata_value(context, "if-match"), method, want)
        await send_etag(context, user)
        return user

    async def ChangePassword(self, request: user_service_pb2.ChangePasswordRequest, context: Context) -> User:
        who = principal()
        check_request_id(request.request_id)
        current, stored_hash = await self.writes.call(self.store.users.get_with_hash, who.tenant_id, request.id)
        if who.role == "reader":
            raise PermissionDenied("a reader key cannot write")
        require_user_access(who, request.id, write=True)
        violations = [Violation("current_password", "required")] if not request.current_password else []
        violations += [Violation("new_password", v.description)
                       for v in validate_password(request.new_password, current.username)]
        if violations:
            raise InvalidArgument(violations)
        if not (await self.hasher.verify(request.current_password, stored_hash)).ok:
            raise InvalidArgument([Violation("current_password", "does not match")], reason="WRONG_PASSWORD")
        hashed = await self.hasher.hash(request.new_password)
        user = await self.writes.run(SetPassword(who, request.id, hashed, request.request_id))
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
        by = ("username", request.username) if request.username else ("email", request.email)
        found = await self.writes.call(self.store.users.find_login, who.tenant_id, *by)
        user, stored = found if found and found[0].state != User.DELETED else (None, None)
        verdict = await self.hasher.verify(request.password, stored)
        if user is None:
            raise Unauthenticated("wrong username, e-mail or password", reason="INVALID_CREDENTIALS")
        if verdict.ok and user.state == User.LOCKED:  # the right password, but no login: nothing recorded
            raise PermissionDenied("the user is locked", reason="USER_LOCKED")
        user = await self.writes.run(RecordLogin(who, user.id, verdict.ok, verdict.rehash if verdict.ok else None))
        if not verdict.ok:
            raise Unauthenticated("wrong username, e-mail or password", reason="INVALID_CREDENTIALS")
        await send_etag(context, user)
        return user_service_pb2.VerifyPasswordResponse(user=user)

    async def ListUserChanges(self, request: user_service_pb2.ListUserChangesRequest,
                              context: Context) -> user_service_pb2.ListUserChangesResponse:
        who = principal()
        await self.writes.call(self.store.users.get, who.tenant_id, request.id)
        require(who, "admin")
        fp = listing.fingerprint(who.tenant_id, request.id)
        size, after = listing.page_size(request.page_size), listing.read_page_token(request.page_token, fp)
        rows, last = await self.writes.call(lambda: self.store.users.audit.changes(
            who.tenant_id, request.id, page_size=size, after_seq=after))
        return user_service_pb2.ListUserChangesResponse(changes=[listing.user_change(r) for r in rows],
                                                        next_page_token=listing.page_token(last, fp))
