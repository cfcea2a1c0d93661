"""Seed 004, a project-management API v3.0's "Update User": ``PUT /users/{userId}``, flat camelCase body.

Its own rules on top of the canonical ones: ``userName``, ``email`` and ``password`` may not be
empty when sent; empty ``firstName``/``lastName`` (and the other optional texts) clear the
field; a password needs 8+ characters with an upper-case letter, a lower-case letter, a digit
and a special character, and may not contain the username in any case. Any key carrier works;
a key that is not an admin key may update only its own user (403 otherwise). The seed
documents no error shape: errors are the service's own ``{code, message, details}`` with the
seed's field names.
"""

from __future__ import annotations

from google.protobuf import struct_pb2
from userservice.v1 import compat_pm_pb2 as pb
from userservice.v1 import compat_pm_pb2_grpc as pb_grpc

from service.compat import common
from service.compat.common import Context, Edit, User, given
from service.context import principal
from service.errors import InvalidArgument, ServiceError, Violation
from service.users.servicer import UserService, send_etag

METHOD = "PmUpdateUser"
NAMES = {"username": "userName", "given_name": "firstName", "family_name": "lastName", "phone_number": "phone",
         "state": "status", "external_id": "ssoId", "id": "userId", "attributes.company": "company",
         "attributes.mobile": "mobile", "attributes.defaultRoleTemplateId": "defaultRoleTemplateId"}
ADDRESS_KEYS = {"formatted": "formatted", "street_address": "street_address", "streetAddress": "street_address",
                "locality": "locality", "region": "region", "postal_code": "postal_code",
                "postalCode": "postal_code", "country": "country"}
STATES = {"ACTIVE": User.ACTIVE, "LOCKED": User.LOCKED, "DELETED": User.DELETED}
NOT_EMPTY = "must not be empty if included in the request"


def password_rule(password: str, username: str) -> list[Violation]:
    """Seed 004's composition rule (the canonical one adds length and the username check)."""
    classes = (any(c.isupper() for c in password), any(c.islower() for c in password),
               any(c.isdigit() for c in password), any(not c.isalnum() and not c.isspace() for c in password))
    if all(classes):
        return []
    return [Violation("password", "must contain an upper-case letter, a lower-case letter, a digit and a "
                                  "special character")]


def to_edit(request: pb.PmUpdateUserRequest, current: User) -> tuple[Edit, int | None]:
    """The canonical edit, and the state change (DELETED, or ACTIVE to undelete) made with it, if any."""
    edit = Edit()
    for name, path in (("user_name", "username"), ("email", "email"), ("password", "password")):
        if request.HasField(name) and not getattr(request, name):
            edit.refuse(path, NOT_EMPTY)
        else:
            edit.text(path, given(request, name))
    for name, path in (("first_name", "given_name"), ("last_name", "family_name"), ("phone", "phone_number")):
        edit.text(path, given(request, name))
    for name, key in (("company", "company"), ("mobile", "mobile"),
                      ("default_role_template_id", "defaultRoleTemplateId")):
        edit.attribute(key, given(request, name))
    if request.HasField("address"):
        address(edit, request.address)
    sso(edit, request, current)
    around = None
    if request.HasField("status"):
        want = STATES.get(request.status)
        if want is None:
            edit.refuse("state", "must be one of: ACTIVE, LOCKED, DELETED")
        elif want == User.DELETED or current.state == User.DELETED:
            around = want if want != current.state else None
        else:
            edit.paths.append("state")
            edit.user.state = want
    return edit, around


def address(edit: Edit, value: struct_pb2.Struct) -> None:
    edit.paths.append("address")
    for key, part in sorted(value.fields.items()):
        target = ADDRESS_KEYS.get(key)
        if target is None:
            edit.refuse(f"address.{key}", f"unknown address part; use {', '.join(sorted(set(ADDRESS_KEYS)))}")
        elif part.WhichOneof("kind") != "string_value":
            edit.refuse(f"address.{key}", "must be a string")
        else:
            setattr(edit.user.address, target, part.string_value)


def sso(edit: Edit, request: pb.PmUpdateUserRequest, current: User) -> None:
    """``ssoId`` is ``external_id``; ``sso: false`` clears it, ``sso: true`` needs one."""
    sso_id = given(request, "sso_id")
    if request.HasField("sso") and not request.sso:
        if sso_id:
            edit.refuse("sso", "false, but ssoId is given")
        edit.text("external_id", "")
        return
    if request.HasField("sso") and request.sso and not (sso_id or (sso_id is None and current.external_id)):
        edit.refuse("external_id", "required when sso is true")
        return
    edit.text("external_id", sso_id)


def to_reply(user: User) -> pb.PmUser:
    out = pb.PmUser(id=user.id, user_name=user.username, status=User.State.Name(user.state),
                    sso=bool(user.external_id))
    for name, value in (("first_name", user.given_name), ("last_name", user.family_name), ("email", user.email),
                        ("phone", user.phone_number), ("sso_id", user.external_id),
                        ("company", user.attributes.get("company", "")),
                        ("mobile", user.attributes.get("mobile", "")),
                        ("default_role_template_id", user.attributes.get("defaultRoleTemplateId", ""))):
        if value:
            setattr(out, name, value)
    if user.HasField("address"):
        for part, value in user.address.ListFields():
            out.address.fields[part.name].string_value = value
    return out


class PmAdapter(pb_grpc.PmCompatServiceServicer):
    """PmCompatService over the canonical update path (authenticated by the call interceptor)."""

    def __init__(self, users: UserService) -> None:
        self.users = users

    async def PmUpdateUser(self, request: pb.PmUpdateUserRequest, context: Context) -> pb.PmUser:
        """One command for the whole request: the fields and a ``status`` change are written together or not at all."""
        who = principal()
        try:
            if not request.user_id:
                raise InvalidArgument([Violation("id", "required")])
            current = self.users.read(who, request.user_id)
            edit, state = to_edit(request, current)
            user = current
            if edit.paths or edit.violations or state is not None:
                user = await common.apply(self.users, who, request.user_id, edit, context, method=METHOD,
                                          password_rule=password_rule, state=state)
        except ServiceError as err:
            raise common.rename(err, common.renamer(NAMES)) from None
        await send_etag(context, user)
        return to_reply(user)
