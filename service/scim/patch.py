"""SCIM PATCH (RFC 7644 section 3.5.2) as one canonical update.

scim2-models reads the PatchOp and applies it to the user as SCIM shows it (``PatchOp.patch``),
under ``POLICY``; it already reads what Okta and Microsoft Entra ID send: pathless values
(``{"op": "replace", "value": {"active": false}}``), capitalised ``Add``/``Replace``/``Remove``,
``"False"`` strings for booleans, dotted keys in a pathless value (``"name.givenName"``), and value
filters in paths that create the entry they describe. One thing it does not read is normalised here:
Entra sends the enterprise ``manager`` as a bare id string rather than ``{"value": id}``.

The patched user is projected onto canonical paths (``mapping.fields``) and compared with the
projection of the user before: the paths whose value changes (and ``password``, when one is sent)
are the update mask of the ONE ``UserService.update`` that writes them. So two PATCHes of different
attributes of one user, at the same moment, both keep their change: each writes only its paths,
under the store's row lock.

``active`` always has a value here (our users are ACTIVE or LOCKED; the published schema marks it
required): a ``remove`` of it is refused with ``mutability``.
"""

from __future__ import annotations

from typing import Any

from scim2_models import Context, InvalidValueException, MutabilityException, PatchOp

from service.scim.mapping import ScimUser, fields
from service.scim.policy import POLICY

MANAGER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:manager"


def _manager_value(value: Any) -> Any:
    return {"value": value} if isinstance(value, str) else value


def normalize(body: Any) -> Any:
    """The PatchOp with Entra's bare-string ``manager`` made ``{"value": ...}``."""
    if not isinstance(body, dict):
        raise InvalidValueException(detail="a PatchOp must be a JSON object")
    operations = next((v for k, v in body.items() if k.lower() == "operations"), None)
    if not isinstance(operations, list):
        return body
    for op in operations:
        if not isinstance(op, dict):
            continue
        path = op.get("path")
        if isinstance(path, str) and path.lower() == MANAGER:
            op["value"] = _manager_value(op.get("value"))
        value = op.get("value")
        if path is None and isinstance(value, dict):
            for key in list(value):
                if key.lower() == MANAGER:
                    value[key] = _manager_value(value[key])
    return body


def parse(body: Any) -> PatchOp[ScimUser]:
    patch: PatchOp[ScimUser] = PatchOp[ScimUser].model_validate(
        normalize(body), scim_ctx=Context.RESOURCE_PATCH_REQUEST, scim_policy=POLICY)
    return patch


def apply(patch: PatchOp[ScimUser], current: ScimUser) -> tuple[dict[str, Any], list[str]]:
    """The canonical values and the update mask of ``patch`` applied to ``current``."""
    after = current.model_copy(deep=True)
    patch.patch(after, scim_policy=POLICY)
    if after.active is None and current.active is not None:
        raise MutabilityException(detail="active cannot be unassigned here: a user is active or not (send false)")
    before_values, values = fields(current), fields(after)
    paths = [p for p, v in values.items() if before_values.get(p) != v]
    if after.password:
        values["password"] = after.password
        paths.append("password")
    return values, paths
