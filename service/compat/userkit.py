"""UserKit's "Update a user" (seed 000): ``POST /v1/users/{user_id}``, flat body, basic auth ``api:KEY``;
and its client's ``get_user`` (``GET /v1/users/{user_id}`` with UserKit's ``X-Escape`` header).

Errors take UserKit's model as its client library (PyPI ``userkit``) reads it:
``{"error": {type, code, param, message}, "errors": [...]}``, one entry per bad parameter. The client
understands 200, 400, 401 and 415 only (anything else is "an error in our servers"), and at 400 the
``type`` picks the exception: so every request error is 400 (``invalid_request_error``; an unknown user
``resource_not_found_error``, which ``get_user`` turns into None), a bad or missing key 401
(``authentication_error``); only overload and outages keep 429 and 503.
"""

from __future__ import annotations

from google.api import httpbody_pb2
from google.protobuf import struct_pb2
from userservice.v1 import compat_userkit_pb2 as pb
from userservice.v1 import compat_userkit_pb2_grpc as pb_grpc

from service.auth import Authenticator
from service.compat import core
from service.compat.common import (
    Context,
    Edit,
    User,
    apply,
    authenticate,
    forbidden_paths,
    given,
    http_reply,
    http_status,
    json_text,
    rename,
    renamer,
    render,
    timestamp_seconds,
    transcoded,
)
from service.errors import InvalidArgument, NotFound, ServiceError
from service.users.rules import ATTRIBUTE_KEY
from service.users.servicer import UserService

METHOD = "UserKitUpdateUser"
AUTH_TYPES = {"password": User.PASSWORD, "two_factor": User.TWO_FACTOR, "one_time_password": User.ONE_TIME_PASSWORD}
NAMES = {"display_name": "name", "phone_number": "phone", "id": "user_id", "attributes": "extras"}
#: Canonical HTTP status -> (UserKit's status, error type). What the client cannot read as a request
#: error (403, 404, 409) is a 400 whose ``code`` says which.
STATUSES = {400: (400, "invalid_request_error"), 401: (401, "authentication_error"),
            403: (400, "invalid_request_error"), 404: (400, "resource_not_found_error"),
            409: (400, "invalid_request_error"), 429: (429, "rate_limit_error")}
NULLABLE = ("name", "email", "verified_email", "verified_phone", "last_failed_login", "last_login")


def to_edit(request: pb.UserKitUpdateUserRequest) -> Edit:
    edit = Edit()
    edit.text("display_name", given(request, "name"))
    edit.text("username", given(request, "username"))
    edit.text("email", given(request, "email"))
    edit.text("password", given(request, "password"))
    edit.text("phone_number", given(request, "phone"))
    if request.HasField("auth_type"):
        if request.auth_type in AUTH_TYPES:
            edit.paths.append("auth_type")
            edit.user.auth_type = AUTH_TYPES[request.auth_type]
        else:
            edit.refuse("auth_type", "must be one of: password, two_factor, one_time_password")
    if request.HasField("extras"):
        extras(edit, request.extras)
    if request.HasField("verified_phone_token"):
        edit.refuse("verified_phone_token", "not supported: this service runs no SMS verification; an admin "
                    "sets phone_verified through PATCH /v1/users/{id}")
    return edit


def extras(edit: Edit, data: struct_pb2.Struct) -> None:
    """UserKit's custom data replaces ``attributes`` whole: scalars as their text, ``null`` leaves a key out."""
    edit.paths.append("attributes")
    for key, value in sorted(data.fields.items()):
        kind = value.WhichOneof("kind")
        if not ATTRIBUTE_KEY.fullmatch(key):
            edit.refuse(f"attributes.{key}", "a key must match [A-Za-z][A-Za-z0-9_]{0,63}")
        elif kind in ("struct_value", "list_value"):
            edit.refuse(f"attributes.{key}", "must be a string, number, boolean or null")
        elif kind != "null_value":
            text = json_text(getattr(value, kind or "string_value"))
            if text:
                edit.user.attributes[key] = text


def to_reply(user: User) -> pb.UserKitUser:
    reply = pb.UserKitUser(id=user.id, username=user.username, auth_type=User.AuthType.Name(user.auth_type).lower(),
                           disabled=user.state != User.ACTIVE, created=timestamp_seconds(user, "create_time") or 0.0,
                           extras=user.attributes)
    if user.display_name:
        reply.name = user.display_name
    if user.email:
        reply.email = user.email
        if user.email_verified:
            reply.verified_email = user.email
    if user.phone_number and user.phone_verified:
        reply.verified_phone = user.phone_number
    for name, source in (("last_failed_login", "last_failed_login_time"), ("last_login", "last_login_time")):
        seconds = timestamp_seconds(user, source)
        if seconds is not None:
            setattr(reply, name, seconds)
    return reply


def to_error(err: ServiceError) -> tuple[int, pb.UserKitErrorReply]:
    """UserKit's HTTP status and error JSON for a canonical error."""
    status, kind = STATUSES.get(http_status(err), (http_status(err), "api_error"))
    reason = (err.reason or err.code.name).lower()
    errors = [pb.UserKitError(type=kind, param=v.field, message=f"{v.field}: {v.description}",
                              code=f"invalid_{v.field.split('.')[0]}" if isinstance(err, InvalidArgument) else reason)
              for v in err.violations]
    errors += [pb.UserKitError(type=kind, code=reason, param=p, message=err.message) for p in forbidden_paths(err)]
    if not errors:
        errors = [pb.UserKitError(type=kind, code=reason, message=err.message)]
        if isinstance(err, NotFound):
            errors[0].param = "user_id"
    return status, pb.UserKitErrorReply(error=errors[0], errors=errors)


async def error_reply(err: ServiceError, context: Context) -> httpbody_pb2.HttpBody:
    """The error in UserKit's words (REST); a native gRPC caller gets the canonical status instead."""
    err = rename(err, renamer(NAMES))
    if not transcoded(context):
        raise err
    status, reply = to_error(err)
    body = render(reply)
    for entry in (body["error"], *body["errors"]):
        entry.setdefault("param", None)
    return await http_reply(context, status, body)


class UserKitAdapter(pb_grpc.UserKitCompatServiceServicer):
    """UserKitCompatService over the canonical update path."""

    def __init__(self, users: UserService, auth: Authenticator) -> None:
        self.users = users
        self.auth = auth

    async def UserKitUpdateUser(self, request: pb.UserKitUpdateUserRequest,
                                context: Context) -> httpbody_pb2.HttpBody:
        try:
            who = authenticate(self.auth, context)
            user = await apply(self.users, who, request.user_id, to_edit(request), context, method=METHOD)
        except ServiceError as err:
            return await error_reply(err, context)
        return await http_reply(context, 200, render(to_reply(user), nulls=NULLABLE), user.etag)

    async def UserKitGetUser(self, request: pb.UserKitGetUserRequest,
                             context: Context) -> httpbody_pb2.HttpBody:
        try:
            who = authenticate(self.auth, context)
            user = core.read(self.users, who, request.user_id)
        except ServiceError as err:
            return await error_reply(err, context)
        return await http_reply(context, 200, render(to_reply(user), nulls=NULLABLE), user.etag)
