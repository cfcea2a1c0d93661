"""userdocks' "PUT /users/:userId" (seed 001): ``{"user": {OIDC claims...}, "test": bool}``.

Credentials: ``X-API-KEY`` with ``X-API-KEY-TYPE: write`` and ``X-CLIENT-ID`` (the tenant's name),
or ``Authorization: Bearer <key>``. Replies are ``{success, message, error, data}``; on error
``error`` is ``"<GRPC_CODE>: <what>"`` and names the bad fields as ``user.<claim>``.
"""

from __future__ import annotations

from google.api import httpbody_pb2
from userservice.v1 import compat_userdocks_pb2 as pb
from userservice.v1 import compat_userdocks_pb2_grpc as pb_grpc

from service.auth import Authenticator, Principal
from service.compat import common
from service.compat.common import Context, Edit, User, given
from service.errors import PermissionDenied, ServiceError, Unauthenticated
from service.users.servicer import UserService

METHOD = "UserdocksUpdateUser"
#: userdocks claims written one to one onto the canonical field of the same name.
CLAIMS = ("given_name", "family_name", "middle_name", "nickname", "profile", "picture", "website", "email",
          "gender", "birthdate", "zoneinfo", "locale", "phone_number")
#: userdocks' own fields, kept in ``attributes`` under their JSON name.
EXTRAS = {"language": "language", "salutation": "salutation", "salutation_other": "salutationOther",
          "other_gender": "other_gender"}
NAMES = {"display_name": "name", "username": "preferred_username", "state": "freezed", "id": "id",
         **{f"attributes.{v}": v for v in (*EXTRAS.values(), "acceptedNewsletter")}}


def check_credentials(who: Principal, headers: dict[str, str]) -> None:
    """An ``X-API-KEY`` needs ``X-API-KEY-TYPE: write`` and the key's tenant as ``X-CLIENT-ID``."""
    if "x-api-key" not in headers:
        return
    kind = headers.get("x-api-key-type", "").strip().lower()
    client = headers.get("x-client-id", "").strip()
    if not kind or not client:
        raise Unauthenticated("X-API-KEY needs X-API-KEY-TYPE and X-CLIENT-ID", reason="MISSING_CLIENT_HEADERS")
    if kind != "write":
        raise PermissionDenied(f"an API key of type {kind!r} cannot write: send X-API-KEY-TYPE: write",
                               reason="READ_ONLY_API_KEY")
    if client != who.tenant:
        raise PermissionDenied("X-CLIENT-ID does not name the API key's tenant", reason="CLIENT_ID_MISMATCH")


def to_edit(request: pb.UserdocksUpdateUserRequest) -> Edit:
    edit = Edit()
    if not request.HasField("user"):
        edit.refuse("user", "required")
        return edit
    user = request.user
    if request.test:
        edit.refuse("test", "not supported: this service has no test mode")
    if user.HasField("id") and user.id != request.user_id:
        edit.refuse("id", "must be the userId of the path")
    for claim in CLAIMS:
        edit.text(claim, given(user, claim))
    edit.text("display_name", given(user, "name"))
    edit.text("username", given(user, "preferred_username"))
    for field_name, key in EXTRAS.items():
        edit.attribute(key, given(user, field_name))
    if user.HasField("accepted_newsletter"):
        edit.attribute("acceptedNewsletter", common.json_text(user.accepted_newsletter))
    if user.HasField("freezed"):
        edit.paths.append("state")
        edit.user.state = User.LOCKED if user.freezed else User.ACTIVE
    if user.deleted:
        edit.refuse("deleted", "not supported here: delete a user with DELETE /v1/users/{id}")
    return edit


def to_data(user: User) -> pb.UserdocksUser:
    data = pb.UserdocksUser(id=user.id, preferred_username=user.username, freezed=user.state == User.LOCKED,
                            deleted=user.state == User.DELETED)
    for claim in CLAIMS:
        if getattr(user, claim):
            setattr(data, claim, getattr(user, claim))
    if user.display_name:
        data.name = user.display_name
    for field_name, key in EXTRAS.items():
        if key in user.attributes:
            setattr(data, field_name, user.attributes[key])
    if user.attributes.get("acceptedNewsletter") in ("true", "false"):
        data.accepted_newsletter = user.attributes["acceptedNewsletter"] == "true"
    return data


def describe(err: ServiceError) -> str:
    if err.violations:
        return f"{err.code.name}: " + "; ".join(f"{v.field} ({v.description})" for v in err.violations)
    return f"{err.code.name}: {err.message}"


class UserdocksAdapter(pb_grpc.UserdocksCompatServiceServicer):
    """UserdocksCompatService over the canonical update path."""

    def __init__(self, users: UserService, auth: Authenticator) -> None:
        self.users = users
        self.auth = auth

    async def UserdocksUpdateUser(self, request: pb.UserdocksUpdateUserRequest,
                                  context: Context) -> httpbody_pb2.HttpBody:
        try:
            who = common.authenticate(self.auth, context)
            check_credentials(who, common.metadata(context))
            user = await common.apply(self.users, who, request.user_id, to_edit(request), context, method=METHOD)
        except ServiceError as err:
            err = common.rename(err, lambda p: p if p in ("user", "test") else common.renamer(NAMES, "user.")(p))
            if not common.transcoded(context):
                raise
            body = pb.UserdocksReply(success=False, error=describe(err))
            return await common.http_reply(context, common.http_status(err),
                                           common.render(body, nulls=("message", "data")))
        reply = pb.UserdocksReply(success=True, message="user updated", data=to_data(user))
        return await common.http_reply(context, 200, common.render(reply, nulls=("error",)), user.etag)
