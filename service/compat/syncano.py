"""Syncano v1.1's "Users - update" (seed 003): ``PUT``/``PATCH /v1.1/instances/{instance}/users/{id}/``.

The instance is the tenant (another instance is ``404 {"detail": "Not found"}``). PUT needs both
``username`` and ``password``; PATCH is partial. Credentials: ``X-API-KEY`` (and ``X-USER-KEY``
for a user key). Field errors are ``{"field": ["message"]}`` (400, also for a taken username, as
Django REST framework reports it); other errors ``{"detail": "..."}`` with their HTTP status.
"""

from __future__ import annotations

from google.api import httpbody_pb2
from userservice.v1 import compat_syncano_pb2 as pb
from userservice.v1 import compat_syncano_pb2_grpc as pb_grpc

from service.auth import Authenticator
from service.compat import common
from service.compat.common import Context, Edit, User
from service.errors import AlreadyExists, InvalidArgument, NotFound, ServiceError, Violation
from service.users.servicer import UserService

Request = pb.SyncanoReplaceUserRequest | pb.SyncanoUpdateUserRequest
REQUIRED = "This field is required."
BLANK = "This field may not be blank."
DETAILS = {"INVALID_API_KEY": "No such API Key.", "MISSING_API_KEY": "Authentication credentials were not provided."}


def to_edit(request: Request, *, replace: bool) -> Edit:
    edit = Edit()
    for name in ("username", "password"):
        if not request.HasField(name):
            if replace:
                edit.refuse(name, REQUIRED)
        elif not getattr(request, name):
            edit.refuse(name, BLANK)
        else:
            edit.text(name, getattr(request, name))
    return edit


def field_errors(violations: list[Violation]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in violations:
        name = v.field if v.field in ("username", "password") else "non_field_errors"
        text = v.description if v.description.endswith(".") else f"{v.description[:1].upper()}{v.description[1:]}."
        out.setdefault(name, []).append(text)
    return out


def to_reply(user: User, instance: str) -> pb.SyncanoUser:
    created, updated = common.rfc3339(user, "create_time"), common.rfc3339(user, "update_time")
    return pb.SyncanoUser(id=user.id, username=user.username,
                          profile=pb.SyncanoProfile(owner=user.id, created_at=created, updated_at=updated),
                          links={"self": f"/v1.1/instances/{instance}/users/{user.id}/"})


class SyncanoAdapter(pb_grpc.SyncanoCompatServiceServicer):
    """SyncanoCompatService over the canonical update path."""

    def __init__(self, users: UserService, auth: Authenticator) -> None:
        self.users = users
        self.auth = auth

    async def SyncanoReplaceUser(self, request: pb.SyncanoReplaceUserRequest,
                                 context: Context) -> httpbody_pb2.HttpBody:
        return await self._update(request, context, replace=True)

    async def SyncanoUpdateUser(self, request: pb.SyncanoUpdateUserRequest,
                                context: Context) -> httpbody_pb2.HttpBody:
        return await self._update(request, context, replace=False)

    async def _update(self, request: Request, context: Context, *, replace: bool) -> httpbody_pb2.HttpBody:
        method = "SyncanoReplaceUser" if replace else "SyncanoUpdateUser"
        try:
            who = common.authenticate(self.auth, context)
            if request.instance != who.tenant:
                raise NotFound("no such instance for this API key", reason="INSTANCE_NOT_FOUND")
            user = await common.apply(self.users, who, request.user_id, to_edit(request, replace=replace), context,
                                      method=method)
        except ServiceError as err:
            if not common.transcoded(context):
                raise
            status = common.http_status(err)
            body: dict[str, object]
            if isinstance(err, InvalidArgument | AlreadyExists) and err.violations:
                status, body = 400, dict(field_errors(err.violations))
            elif isinstance(err, NotFound):
                body = {"detail": "Not found"}
            elif err.reason in DETAILS:
                status, body = (403 if err.reason == "INVALID_API_KEY" else 401), {"detail": DETAILS[err.reason]}
            else:
                body = common.render(pb.SyncanoDetail(detail=err.message))
            return await common.http_reply(context, status, body)
        return await common.http_reply(context, 200, common.render(to_reply(user, request.instance)), user.etag)
