"""Microsoft Entra ID's documented SCIM provisioning requests, replayed through Envoy.

Entra (learn.microsoft.com, "Tutorial: Develop and plan provisioning for a SCIM endpoint"): look
the user up by ``userName`` (and ``externalId``); create it (both schemas, ``roles: []``,
``meta.resourceType``); then PATCH in Entra's own shapes: capitalised ``Replace``/``Add``/``Remove``,
``emails[type eq "work"].value`` paths whose filter may match nothing yet, dotted keys in a pathless
value, the enterprise ``manager`` as a bare id, and ``active`` replaced with the string ``"False"``;
finally DELETE. After each step the test reads the stored user through the canonical gRPC API.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from userservice.v1 import user_pb2

from tests.scim.helpers import CORE, ENTERPRISE, error, patch_op, scim, tenant_key
from tests.support import Service, unique

pytestmark = pytest.mark.process
User = user_pb2.User


def find(service: Service, key: str, scim_filter: str) -> list[dict[str, object]]:
    reply = scim(service, "GET", "/Users?filter=" + quote(scim_filter), key=key)
    assert reply.status == 200, reply.text
    assert reply.json["totalResults"] == len(reply.json["Resources"])
    return list(reply.json["Resources"])


def test_entra_provisioning_sequence(service: Service) -> None:
    key = tenant_key(service)
    name, external = unique("Test_User_"), unique("0a21f0f2-")

    assert find(service, key, f'userName eq "{name}"') == []
    created = scim(service, "POST", "/Users", {
        "schemas": [CORE, ENTERPRISE], "externalId": external, "userName": name, "active": True,
        "emails": [{"primary": True, "type": "work", "value": f"{name}@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": []}, key=key)
    assert created.status == 201, created.text
    user_id = created.json["id"]
    stored = service.get_user(key, user_id)
    assert (stored.username, stored.external_id, stored.email, stored.given_name, stored.family_name) == (
        name, external, f"{name}@testuser.com", "givenName", "familyName")
    assert dict(stored.attributes) == {"nameFormatted": "givenName familyName"}
    assert [u["id"] for u in find(service, key, f'userName eq "{name.lower()}"')] == [user_id]
    assert [u["id"] for u in find(service, key, f'externalId eq "{external}"')] == [user_id]
    assert find(service, key, f'externalId eq "{external.upper()}"') == []  # externalId is caseExact

    # Multi-valued and single-valued updates, as Entra documents them.
    reply = scim(service, "PATCH", f"/Users/{user_id}", patch_op(
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "updatedEmail@microsoft.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}), key=key)
    assert reply.status == 200, reply.text
    stored = service.get_user(key, user_id)
    assert (stored.email, stored.family_name, stored.given_name) == (
        "updatedEmail@microsoft.com", "updatedFamilyName", "givenName")
    renamed = unique("renamed")
    reply = scim(service, "PATCH", f"/Users/{user_id}", patch_op(
        {"op": "Replace", "path": "userName", "value": renamed}), key=key)
    assert reply.status == 200 and service.get_user(key, user_id).username == renamed

    # Add entries whose filter matches nothing yet (they are created), dotted keys, enterprise attributes.
    manager = service.create(key).id
    reply = scim(service, "PATCH", f"/Users/{user_id}", patch_op(
        {"op": "Add", "path": 'phoneNumbers[type eq "work"].value', "value": "+1 (555) 555-0100"},
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 555 0199"},
        {"op": "Add", "path": 'addresses[type eq "work"].locality', "value": "Redmond"},
        {"op": "Add", "value": {"name.givenName": "Jo", "title": "Engineer", f"{ENTERPRISE}:department": "R&D"}},
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": manager},
        {"op": "Replace", "path": "preferredLanguage", "value": "fr-FR"}), key=key)
    assert reply.status == 200, reply.text
    stored = service.get_user(key, user_id)
    assert stored.phone_number == "+15555550100" and stored.given_name == "Jo"
    assert stored.address.locality == "Redmond"
    assert {k: v for k, v in stored.attributes.items() if not k.startswith("scim")} == {
        "nameFormatted": "givenName familyName", "title": "Engineer", "department": "R&D", "manager": manager,
        "preferredLanguage": "fr-FR"}
    phones = json.loads(stored.attributes["scimPhoneNumbers"])
    assert [(p["type"], p["value"]) for p in phones] == [("work", "+1 (555) 555-0100"), ("mobile", "+1 555 555 0199")]
    shown = scim(service, "GET", f"/Users/{user_id}", key=key).json
    assert shown["phoneNumbers"] == phones and shown[ENTERPRISE]["manager"] == {"value": manager}
    assert shown["addresses"] == [{"locality": "Redmond", "type": "work"}]

    # Remove, capitalised; then disable with the string "False".
    reply = scim(service, "PATCH", f"/Users/{user_id}", patch_op(
        {"op": "Remove", "path": 'phoneNumbers[type eq "mobile"]'}, {"op": "Remove", "path": "title"}), key=key)
    assert reply.status == 200, reply.text
    stored = service.get_user(key, user_id)
    assert "title" not in stored.attributes and stored.phone_number == "+15555550100"
    assert [p["type"] for p in json.loads(stored.attributes["scimPhoneNumbers"])] == ["work"]
    reply = scim(service, "PATCH", f"/Users/{user_id}", patch_op(
        {"op": "Replace", "path": "active", "value": "False"}), key=key)
    assert reply.status == 200 and reply.json["active"] is False
    assert service.get_user(key, user_id).state == User.LOCKED

    # Delete: 204, then SCIM answers 404 while the canonical API keeps the soft-deleted user.
    deleted = scim(service, "DELETE", f"/Users/{user_id}", key=key)
    assert deleted.status == 204 and deleted.text == ""
    assert service.get_user(key, user_id).state == User.DELETED
    assert error(scim(service, "GET", f"/Users/{user_id}", key=key)) == (404, None)
    assert find(service, key, f'externalId eq "{external}"') == []
    assert error(scim(service, "PATCH", f"/Users/{user_id}", patch_op(
        {"op": "Replace", "path": "active", "value": True}), key=key)) == (404, None)
    assert error(scim(service, "DELETE", f"/Users/{user_id}", key=key)) == (404, None)
