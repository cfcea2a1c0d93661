"""Rocket.Chat's ``users.update`` (seed 002): ``POST /api/v1/users.update``, ``{"userId", "data": {...}}``;
and ``GET /api/v1/users.info?userId=`` (or ``?username=``), the read its clients make around it.

Credentials: ``X-Auth-Token: <key>`` and ``X-User-Id``: for a ``user`` key it must be that key's
user; an admin (or reader) key may name any user of its tenant. Errors take Rocket.Chat's REST model,
which its clients (PyPI ``rocketchat-api``: ``RocketApiException`` when ``success`` is false) read:
``{"success": false, "error": "... [type]", "errorType": type, "details": {"fields": [...]}}`` with 400
for a bad request or an unknown user and 403 for a permission, and Rocket.Chat's own 401 body for
missing or bad credentials. Fields are named as ``data.<field>``. The reply never carries
``services`` or a password hash.
"""

from __future__ import annotations

from google.api import httpbody_pb2
from google.protobuf import struct_pb2
from userservice.v1 import compat_rocketchat_pb2 as pb
from userservice.v1 import compat_rocketchat_pb2_grpc as pb_grpc

from service.auth import Authenticator, Principal
from service.compat import common, core
from service.compat.common import Context, Edit, User, given
from service.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ServiceError,
    Unauthenticated,
    Violation,
)
from service.users import lookup
from service.users.rules import ATTRIBUTE_KEY
from service.users.servicer import UserService

METHOD = "RocketChatUpdateUser"
NAMES = {"display_name": "name", "state": "active", "email_verified": "verified",
         "require_password_change": "requirePasswordChange", "join_default_channels": "joinDefaultChannels",
         "send_welcome_email": "sendWelcomeEmail"}
DATA_NAME = common.renamer(NAMES, "data.", attributes="customFields")
UNAUTHORIZED = pb.RocketChatUnauthorized(status="error", message="You must be logged in to do this.")


def seed_name(path: str) -> str:
    """Canonical path -> the request's JSON field: ``userId``, ``data`` or ``data.<field>``."""
    return {"id": "userId", "data": "data"}.get(path) or DATA_NAME(path)


def check_user_id(users: UserService, who: Principal, headers: dict[str, str]) -> None:
    """``X-User-Id`` names the acting user: a user key's own, or any user of an admin's tenant."""
    acting = headers.get("x-user-id", "").strip()
    if not acting:
        raise Unauthenticated("X-User-Id is required with X-Auth-Token", reason="MISSING_USER_ID")
    if who.role == "user":
        if acting != who.user_id:
            raise Unauthenticated("X-User-Id is not the user of this token", reason="USER_ID_MISMATCH")
        return
    try:
        users.store.users.get(who.tenant_id, lookup.user_id(acting))
    except NotFound:
        raise Unauthenticated("X-User-Id names no user of this tenant", reason="USER_ID_MISMATCH") from None


def to_edit(data: pb.RocketChatUserData) -> Edit:
    edit = Edit()
    edit.text("email", given(data, "email"))
    edit.text("display_name", given(data, "name"))
    edit.text("password", given(data, "password"))
    edit.text("username", given(data, "username"))
    if data.HasField("active"):
        edit.paths.append("state")
        edit.user.state = User.ACTIVE if data.active else User.LOCKED
    edit.flag("require_password_change", given(data, "require_password_change"))
    edit.flag("email_verified", given(data, "verified"))
    if data.HasField("roles"):
        edit.paths.append("roles")
        for value in data.roles.values:
            if value.WhichOneof("kind") != "string_value":
                edit.refuse("roles", "each role must be a string")
                break
            edit.user.roles.append(value.string_value)
    for flag, what in (("join_default_channels", "this service has no channels"),
                       ("send_welcome_email", "this service sends no e-mail")):
        if getattr(data, flag):
            edit.refuse(flag, f"not supported: {what}; send false or leave it out")
    if data.HasField("custom_fields"):
        for key, value in sorted(data.custom_fields.fields.items()):
            custom(edit, key, value)
    return edit


def custom(edit: Edit, key: str, value: struct_pb2.Value) -> None:
    """One custom field, merged into ``attributes``; ``null`` removes the key."""
    kind = value.WhichOneof("kind")
    if not ATTRIBUTE_KEY.fullmatch(key):
        edit.refuse(f"attributes.{key}", "a key must match [A-Za-z][A-Za-z0-9_]{0,63}")
    elif kind in ("struct_value", "list_value"):
        edit.refuse(f"attributes.{key}", "must be a string, number, boolean or null")
    elif kind == "null_value":
        edit.paths.append(f"attributes.{key}")
    else:
        edit.attribute(key, common.json_text(getattr(value, kind or "string_value")))


def to_reply(user: User) -> pb.RocketChatUserReply:
    out = pb.RocketChatUser(id=user.id, created_at=common.rfc3339(user, "create_time"), username=user.username,
                            type="user", active=user.state == User.ACTIVE, roles=user.roles,
                            updated_at=common.rfc3339(user, "update_time"), custom_fields=user.attributes,
                            require_password_change=user.require_password_change)
    if user.email:
        out.emails.add(address=user.email, verified=user.email_verified)
    if user.display_name:
        out.name = user.display_name
    return pb.RocketChatUserReply(user=out, success=True)


def to_error(err: ServiceError) -> tuple[int, pb.RocketChatError]:
    """Rocket.Chat's status and failure JSON: 400 for a request error or an unknown user, 403 for a permission;
    overload and outages (429, 503) keep their status."""
    status = common.http_status(err)
    kind = f"error-{(err.reason or err.code.name).lower().replace('_', '-')}"
    if isinstance(err, InvalidArgument):
        kind = "invalid-params"
    elif isinstance(err, AlreadyExists):
        kind = "error-field-unavailable"
    elif isinstance(err, NotFound):
        kind = "error-invalid-user"
    elif isinstance(err, PermissionDenied):
        kind = "error-action-not-allowed"
    if status in (404, 409):
        status = 400
    out = pb.RocketChatError(success=False, error=f"{err.message} [{kind}]", error_type=kind)
    fields = [pb.RocketChatFieldError(field=v.field, description=v.description) for v in err.violations]
    fields += [pb.RocketChatFieldError(field=p, description="this key may not change it")
               for p in common.forbidden_paths(err)]
    if fields:
        out.details.fields.extend(fields)
    return status, out


async def reply(context: Context, user: User | None, err: ServiceError | None) -> httpbody_pb2.HttpBody:
    """The 200 reply with the user, or the error in Rocket.Chat's words (REST; native gRPC gets the status)."""
    if err is None:
        assert user is not None
        return await common.http_reply(context, 200, common.render(to_reply(user)), user.etag)
    err = common.rename(err, seed_name)
    if not common.transcoded(context):
        raise err
    if isinstance(err, Unauthenticated):
        return await common.http_reply(context, 401, common.render(UNAUTHORIZED))
    status, body = to_error(err)
    return await common.http_reply(context, status, common.render(body))


class RocketChatAdapter(pb_grpc.RocketChatCompatServiceServicer):
    """RocketChatCompatService over the canonical update path (it authenticates the call itself)."""

    def __init__(self, users: UserService, auth: Authenticator) -> None:
        self.users = users
        self.auth = auth

    def _caller(self, context: Context) -> Principal:
        who = common.authenticate(self.auth, context)
        check_user_id(self.users, who, common.metadata(context))
        return who

    async def RocketChatUpdateUser(self, request: pb.RocketChatUpdateUserRequest,
                                   context: Context) -> httpbody_pb2.HttpBody:
        try:
            who = self._caller(context)
            if not request.user_id or not request.HasField("data"):
                edit = Edit()
                for name, present in (("id", request.user_id), ("data", request.HasField("data"))):
                    if not present:
                        edit.refuse(name, "required")
                raise InvalidArgument(edit.violations)
            edit = to_edit(request.data)
            if not edit.paths and not edit.violations:
                user = core.read(self.users, who, request.user_id)
            else:
                user = await common.apply(self.users, who, request.user_id, edit, context, method=METHOD)
        except ServiceError as err:
            return await reply(context, None, err)
        return await reply(context, user, None)

    async def RocketChatGetUserInfo(self, request: pb.RocketChatGetUserInfoRequest,
                                    context: Context) -> httpbody_pb2.HttpBody:
        try:
            who = self._caller(context)
            if bool(request.user_id) == bool(request.username):
                raise InvalidArgument([Violation("id", "send exactly one of userId and username")])
            if request.user_id:
                user = core.read(self.users, who, request.user_id)
            else:
                user = core.read_by_username(self.users, who, request.username)
        except NotFound as err:
            err.message = "User not found."
            return await reply(context, None, err)
        except ServiceError as err:
            return await reply(context, None, err)
        return await reply(context, user, None)
