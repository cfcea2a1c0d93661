"""Syncano v1.1's "Users - update" (seed 003): ``PUT``/``PATCH /v1.1/instances/{instance}/users/{id}/``,
and what Syncano's client library (PyPI ``syncano`` 5.4) reads around it: ``GET`` of the user, and
``GET .../classes/user_profile/`` (the schema it builds a user's ``profile`` from).

The instance is the tenant (another instance is ``404 {"detail": "Not found"}``). Users are named by
their Syncano number (``service.compat.numbers``; the client refuses anything but an integer) or by
our id, and replies name them by number. PUT needs both ``username`` and ``password``; PATCH is
partial. Credentials: ``X-API-KEY`` or ``Authorization: token <key>`` (the client's carrier for an
instance key), and ``X-USER-KEY`` for a user key. A user key may set its own user's password here
without the current one: on this route the user key is Syncano's proof of the user (the change is
audited like any other). Field errors are ``{"field": ["message"]}`` (400, also for a taken username,
as Django REST framework reports it); other errors ``{"detail": "..."}`` with their HTTP status.
"""

from __future__ import annotations

from datetime import UTC

from google.api import httpbody_pb2
from userservice.v1 import compat_syncano_pb2 as pb
from userservice.v1 import compat_syncano_pb2_grpc as pb_grpc

from service.auth import Authenticator, Principal
from service.compat import common, core, numbers
from service.compat.common import Context, Edit, User
from service.errors import AlreadyExists, InvalidArgument, NotFound, ServiceError, Violation
from service.users.servicer import UserService

Request = pb.SyncanoReplaceUserRequest | pb.SyncanoUpdateUserRequest
PROFILE_CLASS = "user_profile"
#: Syncano's profile fields that are always null here (no groups, no channels).
PROFILE_NULLS = ("group", "channel", "channel_room")
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


def syncano_time(user: User, name: str) -> str:
    """A timestamp as Syncano writes it (microseconds, ``Z``), which its client parses."""
    if not user.HasField(name):
        return ""
    return str(getattr(user, name).ToDatetime(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def to_reply(user: User, number: int, instance: str) -> dict[str, object]:
    base = f"/v1.1/instances/{instance}"
    profile_url = f"{base}/classes/{PROFILE_CLASS}/objects/{number}/"
    profile = pb.SyncanoProfile(
        id=number, owner=number, created_at=syncano_time(user, "create_time"),
        updated_at=syncano_time(user, "update_time"), owner_permissions="full", group_permissions="none",
        other_permissions="none", revision=1, links={"self": profile_url, "owner": f"{base}/users/{number}/"})
    out = common.render(pb.SyncanoUser(id=number, username=user.username, profile=profile,
                                       links={"self": f"{base}/users/{number}/", "profile": profile_url}))
    for name in PROFILE_NULLS:
        out["profile"][name] = None
    return out


def to_class(instance: str) -> pb.SyncanoClass:
    base = f"/v1.1/instances/{instance}/classes/{PROFILE_CLASS}"
    return pb.SyncanoClass(name=PROFILE_CLASS, status="ready", revision=1, group_permissions="none",
                           other_permissions="none", links={"self": f"{base}/", "objects": f"{base}/objects/"})


def credentials(context: Context) -> list[tuple[str, str]]:
    """The call's metadata, with Syncano's ``Authorization: token <key>`` read as ``x-api-key``."""
    out = []
    for name, value in common.metadata(context).items():
        scheme, _, rest = value.partition(" ")
        if name == "authorization" and scheme.lower() == "token":
            out.append(("x-api-key", rest.strip()))
        else:
            out.append((name, value))
    return out


async def error_reply(err: ServiceError, context: Context) -> httpbody_pb2.HttpBody:
    """The error as Syncano (Django REST framework) writes it (REST); native gRPC gets the canonical status."""
    if not common.transcoded(context):
        raise err
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


class SyncanoAdapter(pb_grpc.SyncanoCompatServiceServicer):
    """SyncanoCompatService over the canonical update path."""

    def __init__(self, users: UserService, auth: Authenticator) -> None:
        self.users = users
        self.auth = auth

    def _caller(self, instance: str, context: Context) -> Principal:
        who = self.auth.authenticate(credentials(context))
        if instance != who.tenant:
            raise NotFound("no such instance for this API key", reason="INSTANCE_NOT_FOUND")
        return who

    def _user_id(self, who: Principal, name: str) -> str:
        """Our id of the user the path names: by its Syncano number (digits), else by our id."""
        if name.isdigit():
            return numbers.user_of(core.database(self.users), who.tenant_id, int(name))
        return name

    async def SyncanoReplaceUser(self, request: pb.SyncanoReplaceUserRequest,
                                 context: Context) -> httpbody_pb2.HttpBody:
        return await self._update(request, context, replace=True)

    async def SyncanoUpdateUser(self, request: pb.SyncanoUpdateUserRequest,
                                context: Context) -> httpbody_pb2.HttpBody:
        return await self._update(request, context, replace=False)

    async def SyncanoGetUser(self, request: pb.SyncanoGetUserRequest, context: Context) -> httpbody_pb2.HttpBody:
        try:
            who = self._caller(request.instance, context)
            user = core.read(self.users, who, self._user_id(who, request.user_id))
            body = to_reply(user, numbers.number_of(core.database(self.users), who.tenant_id, user.id),
                            request.instance)
        except ServiceError as err:
            return await error_reply(err, context)
        return await common.http_reply(context, 200, body, user.etag)

    async def SyncanoGetClass(self, request: pb.SyncanoGetClassRequest, context: Context) -> httpbody_pb2.HttpBody:
        try:
            self._caller(request.instance, context)
            if request.class_name != PROFILE_CLASS:
                raise NotFound(f"no class {request.class_name!r}", reason="CLASS_NOT_FOUND")
        except ServiceError as err:
            return await error_reply(err, context)
        return await common.http_reply(context, 200, common.render(to_class(request.instance)))

    async def _update(self, request: Request, context: Context, *, replace: bool) -> httpbody_pb2.HttpBody:
        method = "SyncanoReplaceUser" if replace else "SyncanoUpdateUser"
        try:
            who = self._caller(request.instance, context)
            user_id = self._user_id(who, request.user_id)
            edit = to_edit(request, replace=replace)
            if who.role == "user" and who.user_id == user_id and "password" in edit.paths:
                who = core.as_own_password_writer(who)
            user = await common.apply(self.users, who, user_id, edit, context, method=method)
            body = to_reply(user, numbers.number_of(core.database(self.users), who.tenant_id, user.id),
                            request.instance)
        except ServiceError as err:
            return await error_reply(err, context)
        return await common.http_reply(context, 200, body, user.etag)
