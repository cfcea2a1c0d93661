"""UserKit's "Update a user" (seed 000): ``POST /v1/users/{user_id}``, flat body, basic auth ``api:KEY``.

Errors take UserKit's shape, ``{"error": {type, code, param, message}, "errors": [...]}``, one
entry per bad parameter, with the HTTP status of the canonical code (400, 401, 403, 404, 409).
"""

from __future__ import annotations

from google.api import httpbody_pb2
from userservice.v1 import compat_userkit_pb2 as pb
from userservice.v1 import compat_userkit_pb2_grpc as pb_grpc

from service.auth import Authenticator
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
    rename,
    renamer,
    render,
    timestamp_seconds,
    transcoded,
)
from service.errors import ServiceError
from service.users.servicer import UserService

METHOD = "UserKitUpdateUser"
AUTH_TYPES = {"password": User.PASSWORD, "two_factor": User.TWO_FACTOR, "one_time_password": User.ONE_TIME_PASSWORD}
NAMES = {"display_name": "name", "phone_number": "phone", "id": "user_id"}
TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
         404: "invalid_request_error", 409: "invalid_request_error", 429: "rate_limit_error"}
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
    if request.HasField("verified_phone_token"):
        edit.refuse("verified_phone_token", "not supported: this service runs no SMS verification; an admin "
                    "sets phone_verified through PATCH /v1/users/{id}")
    return edit


def to_reply(user: User) -> pb.UserKitUser:
    reply = pb.UserKitUser(id=user.id, username=user.username, auth_type=User.AuthType.Name(user.auth_type).lower(),
                           disabled=user.state != User.ACTIVE, created=timestamp_seconds(user, "create_time") or 0.0)
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


def to_error(err: ServiceError) -> pb.UserKitErrorReply:
    status = http_status(err)
    kind = TYPES.get(status, "api_error")
    reason = (err.reason or err.code.name).lower()
    errors = [pb.UserKitError(type=kind, param=v.field, message=f"{v.field}: {v.description}",
                              code=reason if status == 409 else f"invalid_{v.field}") for v in err.violations]
    errors += [pb.UserKitError(type=kind, code=reason, param=p, message=err.message) for p in forbidden_paths(err)]
    if not errors:
        errors = [pb.UserKitError(type=kind, code=reason, message=err.message)]
        if status == 404:
            errors[0].param = "user_id"
    return pb.UserKitErrorReply(error=errors[0], errors=errors)


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
            err = rename(err, renamer(NAMES))
            if not transcoded(context):
                raise
            body = render(to_error(err))
            for entry in (body["error"], *body["errors"]):
                entry.setdefault("param", None)
            return await http_reply(context, http_status(err), body)
        return await http_reply(context, 200, render(to_reply(user), nulls=NULLABLE), user.etag)
