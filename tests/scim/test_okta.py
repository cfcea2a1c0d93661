"""Okta's documented SCIM 2.0 provisioning sequence, replayed through Envoy.

Okta (developer.okta.com, "Okta and SCIM Version 2.0"): look the user up by ``userName`` with
``startIndex=1&count=100``; create it with a POST when absent; read it back by id; push profile
changes with a PUT of the whole user; deactivate (and reactivate) with a pathless PATCH of
``active``. After each step the test reads the stored user through the canonical gRPC API.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from userservice.v1 import user_pb2

from tests.scim.helpers import CORE, LIST, PATCH_OP, scim, tenant_key
from tests.support import Service, unique

pytestmark = pytest.mark.process
User = user_pb2.User


def test_okta_provisioning_sequence(service: Service) -> None:
    key = tenant_key(service)
    name = f"{unique('okta')}@example.com"

    # 1. Is the user there? Okta asks with a filter on userName.
    lookup = "/Users?filter=" + quote(f'userName eq "{name}"') + "&startIndex=1&count=100"
    found = scim(service, "GET", lookup, key=key)
    assert found.status == 200, found.text
    assert found.json == {"schemas": [LIST], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0,
                          "Resources": []}

    # 2. Create it, as Okta's guide shows the request (groups: [] and a password included).
    created = scim(service, "POST", "/Users", {
        "schemas": [CORE], "userName": name, "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": name, "type": "work"}], "displayName": "Test User",
        "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7", "groups": [], "password": "1mz050nq-okta",
        "active": True}, key=key)
    assert created.status == 201, created.text
    user_id = created.json["id"]
    assert created.headers["location"].endswith(f"/scim/v2/Users/{user_id}")
    assert created.json["meta"]["location"] == created.headers["location"]
    assert created.headers["etag"] == created.json["meta"]["version"]
    assert "password" not in created.json
    stored = service.get_user(key, user_id)
    assert (stored.username, stored.given_name, stored.family_name, stored.display_name) == (
        name, "Test", "User", "Test User")
    assert (stored.email, stored.locale, stored.external_id, stored.state) == (
        name, "en-US", "00ujl29u0le5T6Aj10h7", User.ACTIVE)
    assert dict(stored.attributes) == {}  # the Okta e-mail (primary, work) is said by the column alone

    # The same lookup now finds it, whatever the case of the userName.
    found = scim(service, "GET", lookup.replace(quote(name), quote(name.upper())), key=key)
    assert found.json["totalResults"] == 1 and found.json["Resources"][0]["id"] == user_id

    # 3. Read it back by id.
    got = scim(service, "GET", f"/Users/{user_id}", key=key)
    assert got.status == 200 and got.json["userName"] == name and got.json["active"] is True
    assert got.json["emails"] == [{"value": name, "type": "work", "primary": True}]

    # 4. A profile update: Okta PUTs the whole user.
    put = dict(got.json)
    put["name"] = {"givenName": "Changed", "familyName": "User"}
    put["displayName"] = "Changed User"
    put["emails"] = [{"primary": True, "value": f"new.{name}", "type": "work"}]
    replaced = scim(service, "PUT", f"/Users/{user_id}", put, key=key)
    assert replaced.status == 200, replaced.text
    assert replaced.json["name"] == {"givenName": "Changed", "familyName": "User"}
    stored = service.get_user(key, user_id)
    assert (stored.given_name, stored.display_name, stored.email) == ("Changed", "Changed User", f"new.{name}")
    assert stored.username == name and stored.external_id == "00ujl29u0le5T6Aj10h7" and stored.state == User.ACTIVE

    # 5. Deactivation: a pathless PATCH of active.
    off = scim(service, "PATCH", f"/Users/{user_id}", {
        "schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": False}}]}, key=key)
    assert off.status == 200, off.text
    assert off.json["active"] is False
    stored = service.get_user(key, user_id)
    assert stored.state == User.LOCKED and stored.given_name == "Changed"

    # Reactivation, the same way.
    on = scim(service, "PATCH", f"/Users/{user_id}", {
        "schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": True}}]}, key=key)
    assert on.status == 200 and on.json["active"] is True
    assert service.get_user(key, user_id).state == User.ACTIVE
