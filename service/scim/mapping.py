"""The SCIM User (core schema and enterprise extension) <-> our canonical ``User``.

``to_scim`` renders a stored user; ``fields`` projects a SCIM user onto canonical update-mask paths
(``username``, ``address``, ``attributes.title``...) and their values; ``to_user`` builds the
``User`` an update or a create sends. The table is docs/scim.md's "Attribute mapping":

- single-valued attributes with a column go to it (``userName`` -> ``username``, ``timezone`` ->
  ``zoneinfo``, ``active`` -> ``state`` ACTIVE/LOCKED...);
- single-valued attributes with no column go to ``attributes`` under their SCIM name
  (``title``, ``name.formatted`` as ``nameFormatted``, the enterprise ``department``...);
- each multi-valued attribute (``emails``, ``phoneNumbers``, ``photos``, ``addresses``, ``roles``)
  puts its main entry (the ``primary`` one, else the first ``work`` one, else the first) in its column (``email``,
  ``phone_number``, ``picture``, ``address``; every value for ``roles``), and keeps the whole list,
  as SCIM JSON, in ``attributes.scim<Name>`` when the column alone cannot say it (a second entry, a
  ``type`` other than ``work``, a phone number that is not E.164...). The column wins on reading:
  a change through the canonical API shows through SCIM.
- ``ims``, ``entitlements``, ``x509Certificates`` have no home and are refused (``invalidValue``);
  ``groups`` is read-only in SCIM and we have no groups, so it is never returned.

Written here rather than taken from a library: the mapping is this service's own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, cast

from pydantic import Field
from scim2_models import (
    Address,
    Email,
    Meta,
    Name,
    PhoneNumber,
    Photo,
    Reference,
    Required,
    Role,
)
from scim2_models import EnterpriseUser as EnterpriseUserBase
from scim2_models import Manager as ManagerBase
from scim2_models import User as ScimUserBase
from userservice.v1 import user_pb2

from service.errors import InvalidArgument, Violation

User = user_pb2.User


class Manager(ManagerBase):
    """The enterprise ``manager``, whose ``$ref`` is optional here: Entra sends only the id (``value``)."""

    ref: Annotated[Reference[Any] | None, Required.false] = Field(
        None, serialization_alias="$ref", validation_alias="$ref")


class EnterpriseUser(EnterpriseUserBase):
    """The enterprise extension with that ``manager``."""

    manager: Manager | None = None


ScimUser = ScimUserBase[EnterpriseUser]
ENTERPRISE = str(EnterpriseUser.__schema__)
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
PHONE_PUNCTUATION = re.compile(r"[\s().-]")

#: Single-valued SCIM attributes -> canonical path. ``ext`` marks the enterprise extension.
SCALARS: dict[tuple[str, ...], str] = {
    ("user_name",): "username", ("external_id",): "external_id", ("display_name",): "display_name",
    ("nick_name",): "nickname", ("profile_url",): "profile", ("locale",): "locale", ("timezone",): "zoneinfo",
    ("name", "given_name"): "given_name", ("name", "family_name"): "family_name",
    ("name", "middle_name"): "middle_name",
    ("title",): "attributes.title", ("user_type",): "attributes.userType",
    ("preferred_language",): "attributes.preferredLanguage", ("name", "formatted"): "attributes.nameFormatted",
    ("name", "honorific_prefix"): "attributes.honorificPrefix",
    ("name", "honorific_suffix"): "attributes.honorificSuffix",
    ("ext", "employee_number"): "attributes.employeeNumber", ("ext", "cost_center"): "attributes.costCenter",
    ("ext", "organization"): "attributes.organization", ("ext", "division"): "attributes.division",
    ("ext", "department"): "attributes.department", ("ext", "manager", "value"): "attributes.manager",
}
#: SCIM attribute names, for error messages: canonical path -> SCIM path.
SCIM_NAMES: dict[str, str] = {
    "username": "userName", "external_id": "externalId", "display_name": "displayName", "nickname": "nickName",
    "profile": "profileUrl", "locale": "locale", "zoneinfo": "timezone", "given_name": "name.givenName",
    "family_name": "name.familyName", "middle_name": "name.middleName", "state": "active", "password": "password",
    "email": "emails", "phone_number": "phoneNumbers", "picture": "photos", "address": "addresses",
    "roles": "roles", "attributes.title": "title", "attributes.userType": "userType",
    "attributes.preferredLanguage": "preferredLanguage", "attributes.nameFormatted": "name.formatted",
    "attributes.honorificPrefix": "name.honorificPrefix", "attributes.honorificSuffix": "name.honorificSuffix",
    **{f"attributes.{k}": f"{ENTERPRISE}:{k}" for k in ("employeeNumber", "costCenter", "organization",
                                                           "division", "department")},
    "attributes.manager": f"{ENTERPRISE}:manager",
}
UNSUPPORTED = {"ims": "ims", "entitlements": "entitlements", "x509_certificates": "x509Certificates"}
ADDRESS_PARTS = {"formatted": "formatted", "street_address": "streetAddress", "locality": "locality",
                 "region": "region", "postal_code": "postalCode", "country": "country"}

Entry = dict[str, Any]


def phone_column(value: Any) -> str | None:
    """A phone number as our E.164 column holds it (``tel:+1-201-555-0123`` -> ``+12015550123``), or None."""
    text = PHONE_PUNCTUATION.sub("", str(value or "")).removeprefix("tel:")
    return text if E164.fullmatch(text) else None


def _address_column(entry: Entry) -> dict[str, str] | None:
    parts = {k: str(entry[alias]) for k, alias in ADDRESS_PARTS.items() if entry.get(alias)}
    return parts or None


def _with_address(entry: Entry, column: dict[str, str]) -> Entry:
    out = {k: v for k, v in entry.items() if k not in ADDRESS_PARTS.values()}
    return {**{ADDRESS_PARTS[k]: v for k, v in column.items()}, **out}


@dataclass(frozen=True)
class Multi:
    """A multi-valued attribute whose main entry lives in one column."""

    scim: str  # the SCIM name, and the model's field
    field: str  # the model's field name
    column: str  # the canonical field
    key: str  # the attributes key that keeps the whole list when needed
    model: type[Any]
    column_of: Callable[[Entry], Any]
    with_column: Callable[[Entry, Any], Entry]

    @property
    def key_path(self) -> str:
        return f"attributes.{self.key}"

    def default(self, column: Any) -> list[Entry]:
        """The entries a column alone says: its value, the ``work`` one and primary (photos: a photo)."""
        kind = "photo" if self.scim == "photos" else "work"
        return [self.with_column({"type": kind, "primary": True}, column)]


MULTI = (
    Multi("emails", "emails", "email", "scimEmails", Email, lambda e: e.get("value") or None,
          lambda e, c: {**e, "value": c}),
    Multi("phoneNumbers", "phone_numbers", "phone_number", "scimPhoneNumbers", PhoneNumber,
          lambda e: phone_column(e.get("value")),
          lambda e, c: e if phone_column(e.get("value")) == c else {**e, "value": c}),
    Multi("photos", "photos", "picture", "scimPhotos", Photo, lambda e: e.get("value") or None,
          lambda e, c: {**e, "value": c}),
    Multi("addresses", "addresses", "address", "scimAddresses", Address, _address_column, _with_address),
)
ROLES_KEY = "scimRoles"
SCIM_NAMES.update({m.key_path: m.scim for m in MULTI} | {f"attributes.{ROLES_KEY}": "roles"})
#: Every canonical path SCIM writes: a PUT's update mask (with ``password`` when one is sent).
PUT_PATHS: tuple[str, ...] = (*SCALARS.values(), "state", *(m.column for m in MULTI),
                              *(m.key_path for m in MULTI), "roles", f"attributes.{ROLES_KEY}")


def _main(entries: list[Entry]) -> int:
    """The entry a column holds: the ``primary`` one, else the first ``work`` one, else the first."""
    for wanted in (lambda e: e.get("primary") is True, lambda e: e.get("type") == "work"):
        found = next((i for i, e in enumerate(entries) if wanted(e)), None)
        if found is not None:
            return found
    return 0


def _get(scim: ScimUser, path: tuple[str, ...]) -> Any:
    node: Any = scim[EnterpriseUser] if path[0] == "ext" else getattr(scim, path[0])
    for part in path[1:]:
        if node is None:
            return None
        node = getattr(node, part)
    return node


def _entries(values: list[Any] | None) -> list[Entry]:
    return [v.model_dump() for v in values or []]


def fields(scim: ScimUser) -> dict[str, Any]:
    """The canonical value of every path SCIM writes (None: unset), from a SCIM user."""
    for name, spelled in UNSUPPORTED.items():
        if getattr(scim, name):
            raise InvalidArgument([Violation(spelled, "not supported by this service (docs/scim.md)")],
                                  reason="invalidValue")
    out: dict[str, Any] = {}
    for path, canonical in SCALARS.items():
        value = _get(scim, path)
        out[canonical] = str(value) if value not in (None, "") else None
    out["state"] = None if scim.active is None else (User.ACTIVE if scim.active else User.LOCKED)
    for multi in MULTI:
        entries = _entries(getattr(scim, multi.field))
        column = multi.column_of(entries[_main(entries)]) if entries else None
        out[multi.column] = column
        plain = not entries or (column is not None and entries == multi.default(column))
        out[multi.key_path] = None if plain else json.dumps(entries, sort_keys=True, ensure_ascii=False)
    roles = _entries(scim.roles)
    out["roles"] = [str(r.get("value", "")) for r in roles]
    out[f"attributes.{ROLES_KEY}"] = (json.dumps(roles, sort_keys=True, ensure_ascii=False)
                                      if any(set(r) - {"value"} for r in roles) else None)
    return out


def to_user(values: dict[str, Any], paths: list[str], user_id: str = "") -> User:
    """A ``User`` carrying ``values`` for ``paths`` (an unset value clears the field when masked)."""
    user = User(id=user_id)
    for path in paths:
        value = values.get(path)
        if value is None or value == []:
            continue
        if path.startswith("attributes."):
            user.attributes[path.split(".", 1)[1]] = value
        elif path == "address":
            user.address.CopyFrom(user_pb2.Address(**value))
        elif path == "roles":
            user.roles.extend(value)
        else:
            setattr(user, path, value)
    return user


def _stored_list(user: User, key: str) -> list[Entry] | None:
    text = user.attributes.get(key)
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else None


def _column(user: User, multi: Multi) -> Any:
    if multi.column == "address":
        parts = {f.name: v for f, v in user.address.ListFields() if v}
        return parts or None
    return getattr(user, multi.column) or None


def _render(user: User, multi: Multi) -> list[Entry]:
    """The list as SCIM shows it: the stored list, with the column's current value for its main entry."""
    column = _column(user, multi)
    entries = _stored_list(user, multi.key)
    if entries is None:
        return multi.default(column) if column is not None else []
    entries = [dict(e) for e in entries]
    if not entries:
        return entries
    main = _main(entries)
    if column is None:
        if multi.column_of(entries[main]) is not None:  # the column was cleared outside SCIM
            del entries[main]
    elif multi.column_of(entries[main]) != column:
        entries[main] = multi.with_column(entries[main], column)
    return entries


def _roles(user: User) -> list[Entry]:
    stored = {str(e.get("value")): e for e in _stored_list(user, ROLES_KEY) or []}
    return [stored.get(role, {"value": role}) for role in user.roles]


def _timestamp(user: User, name: str) -> datetime | None:
    if not user.HasField(name):
        return None
    ts = getattr(user, name)
    return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, UTC)


def _models(model: type[Any], entries: list[Entry], fallback: list[Entry]) -> list[Any] | None:
    """The entries as scim2-models objects; a stored list that no longer validates shows as its column."""
    for candidate in (entries, fallback):
        try:
            return [model.model_validate(e) for e in candidate] or None
        except ValueError:
            continue
    return None


def _multi(user: User, multi: Multi) -> list[Any] | None:
    column = _column(user, multi)
    return _models(multi.model, _render(user, multi), multi.default(column) if column is not None else [])


def to_scim(user: User, location: str) -> ScimUser:
    """The stored user as a SCIM User (never a password)."""
    attrs = user.attributes

    def attr(key: str) -> str | None:
        return attrs.get(key) or None

    name = Name(given_name=user.given_name or None, family_name=user.family_name or None,
                middle_name=user.middle_name or None, formatted=attr("nameFormatted"),
                honorific_prefix=attr("honorificPrefix"), honorific_suffix=attr("honorificSuffix"))
    scim = ScimUser(
        id=user.id, external_id=user.external_id or None, user_name=user.username,
        name=name if name.model_dump() else None, display_name=user.display_name or None,
        nick_name=user.nickname or None, profile_url=cast(Any, user.profile or None), title=attr("title"),
        user_type=attr("userType"), preferred_language=attr("preferredLanguage"), locale=user.locale or None,
        timezone=user.zoneinfo or None, active=user.state == User.ACTIVE,
        emails=_multi(user, MULTI[0]), phone_numbers=_multi(user, MULTI[1]), photos=_multi(user, MULTI[2]),
        addresses=_multi(user, MULTI[3]), roles=_models(Role, _roles(user), [{"value": r} for r in user.roles]),
        meta=Meta(resource_type="User", created=_timestamp(user, "create_time"),
                  last_modified=_timestamp(user, "update_time"), version=user.etag, location=location),
    )
    enterprise = EnterpriseUser(
        employee_number=attr("employeeNumber"), cost_center=attr("costCenter"), organization=attr("organization"),
        division=attr("division"), department=attr("department"),
        manager=Manager(value=attrs["manager"], ref=None) if attrs.get("manager") else None)
    if enterprise.model_dump(exclude={"schemas"}):
        scim[EnterpriseUser] = enterprise
    return scim


def scim_name(path: str) -> str:
    """A canonical path (as in a violation) in SCIM's words."""
    if path in SCIM_NAMES:
        return SCIM_NAMES[path]
    top = path.split(".", 1)[0]
    return SCIM_NAMES.get(top, path)
