"""Every call SCIM makes into the canonical core, in one place (so it is easy to re-point).

SCIM authenticates with the service's own keys (an admin key; its tenant is the SCIM tenant), reads
through ``UserService.read`` and the store's ``users.page``, creates through the servicer's ``CreateUser``,
writes through ``UserService.update`` (the one update path, audited with the SCIM method's name) and
deletes through ``UserService.set_state`` (the soft delete of DeleteUser). A soft-deleted user is not
visible through SCIM: every read of one is NotFound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2, user_service_pb2

from service.auth import Authenticator, Principal, require
from service.context import PRINCIPAL
from service.errors import Aborted, NotFound
from service.users import fields
from service.users.fields import Filter
from service.users.servicer import UserService
from service.users.update import same_etag

User = user_pb2.User
#: How many users one store read returns while a list is scanned.
SCAN_PAGE = 500


class _Capture:
    """The part of a gRPC context CreateUser uses: it keeps the initial metadata instead of sending it."""

    def __init__(self, metadata: Sequence[tuple[str, Any]]) -> None:
        self.metadata = tuple(metadata)
        self.initial: tuple[tuple[str, Any], ...] = ()

    def invocation_metadata(self) -> tuple[tuple[str, Any], ...]:
        return self.metadata

    async def send_initial_metadata(self, metadata: Sequence[tuple[str, Any]]) -> None:
        self.initial = tuple(metadata)


class Core:
    """The canonical service as SCIM sees it."""

    def __init__(self, users: UserService, auth: Authenticator) -> None:
        self.users = users
        self.auth = auth

    def authenticate(self, metadata: Sequence[tuple[str, Any]]) -> Principal:
        """The caller's admin key (``Authorization: Bearer``); it becomes the call's principal."""
        who = self.auth.authenticate(metadata)
        require(who, "admin")
        PRINCIPAL.set(who)
        return who

    def read(self, who: Principal, user_id: str) -> User:
        user = self.users.read(who, user_id)
        if user.state == User.DELETED:
            raise NotFound("no such user")
        return user

    def page(self, who: Principal, after: int, where: Sequence[tuple[str, object]]) -> tuple[list[User], int | None]:
        """One keyset page of the tenant's live users in creation order, and where the next one starts.

        ``where``: (column, value) terms on columns of the field table; a derived (canonical) column
        is compared canonically, as ListUsers does."""
        terms = []
        for column, value in where:
            field = next(f for f in fields.FIELDS if any(c.name == column for c in f.columns))
            derived = field.columns[-1].name == column and field.columns[-1].derive is not None
            terms.append((field, Filter.CANONICAL if derived else Filter.EQUAL, value))
        return self.users.store.users.page(who.tenant_id, page_size=SCAN_PAGE, after_seq=after,
                                           show_deleted=False, where=terms)

    async def create(self, who: Principal, user: User, metadata: Sequence[tuple[str, Any]]) -> User:
        request = user_service_pb2.CreateUserRequest(user=user)
        created: User = await self.users.CreateUser(request, _Capture(metadata))  # type: ignore[arg-type]
        return created

    async def update(self, who: Principal, user: User, paths: Sequence[str], *, etag: str, method: str) -> User:
        """One UpdateUser of ``paths`` (the update mask); ``etag`` is an ``If-Match``."""
        request = user_service_pb2.UpdateUserRequest(user=user, update_mask=field_mask_pb2.FieldMask(paths=paths))
        return await self.users.update(who, request, etag=etag, method=method)

    async def delete(self, who: Principal, user_id: str, *, etag: str, method: str) -> User:
        return await self.users.set_state(who, "", user_id, etag, method, User.DELETED)

    @staticmethod
    def etag_matches(given: str, current: str) -> bool:
        """Whether an ``If-Match`` / ``If-None-Match`` value names ``current`` (RFC 9110: ``*``, lists, ``W/``)."""
        return same_etag(given, current)

    @staticmethod
    def stale() -> Aborted:
        """The error of an ``If-Match`` that names another version (the core's own)."""
        return Aborted("the user changed since this etag was read; read it again")
