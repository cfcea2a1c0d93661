"""The UserService servicer: parse, authorize, call the store, convert. Each method is short.

Mask rules live in ``masks``, field rules in the field table and ``validation``, the update pipeline
in ``update``, SQL in ``service.storage``, hashing in ``service.passwords``. Writes go through
``writes`` (``service.writer``): run here, or in SQLite's writer process; the code is the same.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import grpc
from userservice.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc

from service.auth import Principal, require, require_user_access
from service.context import call_metadata, principal
from service.errors import InvalidArgument, PermissionDenied, Unauthenticated, Violation
from service.passwords import MAX_PASSWORD_BYTES, Hasher, Verdict, too_long
from service.storage import Store
from service.users import fields, listing, lockout, lookup
from service.users.commands import Create, RecordLogin, SetPassword, SetState, Unlock, prepare_create
from service.users.update import (
    Command,
    Update,
    authorize,
    check_request_id,
    new_password,
    prepare_update,
    request_digest,
)

User = user_pb2.User
Context = grpc.aio.ServicerContext[Any, Any]
#: A route's own password rule: (password, username) -> violations.
PasswordRule = Callable[[str, str], list[Violation]]
T = TypeVar("T")


def login_name(request: user_service_pb2.VerifyPasswordRequest) -> tuple[str, str]:
    """VerifyPassword's (field, value) to find the user by, once the request is checked."""
    violations = []
    if bool(request.username) == bool(request.email):
        violations.append(Violation("username", "give exactly one of username and email"))
    if not request.password:
        violations.append(Violation("password", "required"))
    elif too_long(request.password):
        violations.append(Violation("password", f"at most {MAX_PASSWORD_BYTES} bytes"))
    if violations:
        raise InvalidArgument(violations)
    return ("username", request.username) if request.username else ("email", request.email)


class Writes(Protocol):
    """Where database work runs: ``service.writer.InProcess`` or ``WriterClient`` (SQLite: reads inline),
    ``service.dbthreads.Threads`` (PostgreSQL: commands and reads on a thread pool, off the event loop)."""

    async def run(self, command: Command) -> User: ...
    async def create(self, command: Create) -> User: ...
    async def call(self, fn: Callable[..., T], *args: Any) -> T: ...


def transcoded(context: Context) -> bool:
    """Whether the call came through Envoy's JSON transcoder (REST) rather than native gRPC."""
    return any(key == "x-envoy-original-path" for key, _ in call_metadata(context))


async def send_etag(context: Context, user: User) -> None:
    """A REST reply that carries a user has its ``ETag`` header: Envoy makes it of this initial metadata.

    Only on calls Envoy transcoded: a gRPC client reads ``user.etag`` from the message (AIP-154), and
    grpc.aio sends initial metadata as a batch of its own, which cost 60-140 us of CPU per call
    (docs/benchmarks.md).
    """
    if transcoded(context):
        await context.send_initial_metadata((("etag", user.etag),))


def metadata_value(context: Context, name: str) -> str:
    for key, value in call_metadata(context):
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
        who = principal()
        command = prepare_create(who, request, self.hasher.check_new)
        hashed = None
        if command.user.HasField(fields.SECRET.name) and not request.validate_only:
            hashed = await self.hasher.hash(command.user.password, tenant=who.tenant_id)
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
        violations = self.hasher.check_new(password, owner) + (rule(password, owner) if rule else [])
        hashed = None
        if not violations and not command.validate_only:
            hashed = await self.hasher.hash(password, tenant=command.tenant_id)
        return dataclasses.replace(command, user=without_password(command.user), password_hash=hashed,
                                   password_violations=tuple(violations))

    def read(self, who: Principal, user_id: str) -> User:
        """A user the caller may read (NOT_FOUND in another tenant, PERMISSION_DENIED otherwise)."""
        user = self.store.users.get(who.tenant_id, lookup.user_id(user_id))
        require_user_access(who, user.id, write=False)
        return user

    async def set_state(self, who: Principal, request_id: str, user_id: str, etag: str, method: str,
                        want: int) -> User:
        """DeleteUser (``want`` DELETED) and UndeleteUser (``want`` ACTIVE)."""
        check_request_id(request_id)
        digest = request_digest(method, user_id, etag) if request_id else ""
        return await self.writes.run(SetState(who, lookup.user_id(user_id), want, method, etag, request_id,
                                              digest=digest))

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

    async def UnlockUser(self, request: user_service_pb2.UnlockUserRequest, context: Context) -> User:
        check_request_id(request.request_id)
        etag = request.etag or metadata_value(context, "if-match")
        digest = request_digest("UnlockUser", request.id, etag) if request.request_id else ""
        user = await self.writes.run(Unlock(principal(), request.id, etag, request.request_id, digest=digest))
        await send_etag(context, user)
        return user

    async def ChangePassword(self, request: user_service_pb2.ChangePasswordRequest, context: Context) -> User:
        who = principal()
        check_request_id(request.request_id)
        current, stored_hash = await self.writes.call(self.store.users.get_with_hash, who.tenant_id,
                                                      lookup.user_id(request.id))
        if who.role == "reader":
            raise PermissionDenied("a reader key cannot write")
        require_user_access(who, request.id, write=True)
        violations = [Violation("current_password", "required")] if not request.current_password else []
        if too_long(request.current_password):
            violations.append(Violation("current_password", f"at most {MAX_PASSWORD_BYTES} bytes"))
        violations += [Violation("new_password", v.description)
                       for v in self.hasher.check_new(request.new_password, current.username)]
        if violations:
            raise InvalidArgument(violations)
        if not (await self.hasher.verify(request.current_password, stored_hash, tenant=who.tenant_id)).ok:
            raise InvalidArgument([Violation("current_password", "does not match")], reason="WRONG_PASSWORD")
        hashed = await self.hasher.hash(request.new_password, tenant=who.tenant_id)
        digest = request_digest("ChangePassword", request.id) if request.request_id else ""
        user = await self.writes.run(SetPassword(who, request.id, hashed, request.request_id, digest=digest))
        await send_etag(context, user)
        return user

    async def VerifyPassword(self, request: user_service_pb2.VerifyPasswordRequest,
                             context: Context) -> user_service_pb2.VerifyPasswordResponse:
        """docs/api.md, "Password guessing": a locked user is refused before any hash; the tarpit's delay
        is awaited here (the event loop goes on); the outcome is counted by ``RecordLogin``."""
        who = principal()
        require(who, "admin")
        by = login_name(request)
        lookup.text(*by)
        found = await self.writes.call(self.store.users.find_login, who.tenant_id, *by)
        user, stored = found if found and found[0].state != User.DELETED else (None, None)
        if user is None:
            await self.hasher.verify(request.password, None, tenant=who.tenant_id)  # the same time as a wrong one
            raise Unauthenticated("wrong username, e-mail or password", reason="INVALID_CREDENTIALS")
        policy = self.store.policies.get(who.tenant_id)
        verdict = await self._guarded_verify(who, user, stored, request.password, policy)
        user = await self.writes.run(RecordLogin(who, user.id, verdict.ok, verdict.rehash, policy))
        if not verdict.ok:
            raise Unauthenticated("wrong username, e-mail or password", reason="INVALID_CREDENTIALS")
        await send_etag(context, user)
        return user_service_pb2.VerifyPasswordResponse(user=user)

    async def _guarded_verify(self, who: Principal, user: User, stored: str | None, password: str,
                              policy: lockout.LoginPolicy) -> Verdict:
        """Refuse a locked user before any hash; wait the tarpit's delay (a timer: the event loop goes on);
        then check the password."""
        now = time.time_ns() // 1000
        refused = lockout.refusal(user, now)
        if refused is not None:
            raise refused
        delay = policy.delay(policy.failures(user, now))
        if delay:
            await asyncio.sleep(delay)
        return await self.hasher.verify(password, stored, tenant=who.tenant_id)

    async def ListUserChanges(self, request: user_service_pb2.ListUserChangesRequest,
                              context: Context) -> user_service_pb2.ListUserChangesResponse:
        who = principal()
        await self.writes.call(self.store.users.get, who.tenant_id, lookup.user_id(request.id))
        require(who, "admin")
        fp = listing.fingerprint(who.tenant_id, request.id)
        size, after = listing.page_size(request.page_size), listing.read_page_token(request.page_token, fp)
        rows, last = await self.writes.call(lambda: self.store.users.audit.changes(
            who.tenant_id, request.id, page_size=size, after_seq=after))
        return user_service_pb2.ListUserChangesResponse(changes=[listing.user_change(r) for r in rows],
                                                        next_page_token=listing.page_token(last, fp))
