"""SCIM's protocol rules through Envoy: media types, errors and their scimType, the mapping, discovery."""

from __future__ import annotations

import json

import pytest
from userservice.v1 import user_pb2, user_service_pb2

from tests.reliability.helpers import changes
from tests.scim.helpers import CORE, ENTERPRISE, error, new_user, patch_op, scim, tenant_key
from tests.support import Service, unique

pytestmark = pytest.mark.process
User = user_pb2.User


@pytest.fixture(scope="module")
def key(service: Service) -> str:
    return tenant_key(service)


def test_replies_are_scim_json_and_json_requests_are_accepted(service: Service, key: str) -> None:
    reply = scim(service, "POST", "/Users", {"schemas": [CORE], "userName": unique("plain")}, key=key,
                 content_type="application/json; charset=utf-8")
    assert reply.status == 201 and reply.headers["content-type"] == "application/scim+json"
    refused = scim(service, "POST", "/Users", {"schemas": [CORE], "userName": unique("x")}, key=key,
                   content_type="text/plain")
    assert error(refused) == (415, None)
    bad = service.rest("POST", "/scim/v2/Users", raw=b"{not json", key=key,
                       headers={"content-type": "application/scim+json"})
    assert error(bad) == (400, "invalidSyntax")


def test_keys_are_checked_and_answered_as_scim_errors(service: Service, key: str) -> None:
    assert error(scim(service, "GET", "/Users", key="")) == (401, None)
    assert error(scim(service, "GET", "/Users", key="usk_nope.nope")) == (401, None)
    reader = service.key("reader", tenant=unique("scim"))
    assert error(scim(service, "GET", "/Users", key=reader)) == (403, None)


def test_taken_user_name_and_external_id_are_409_uniqueness(service: Service, key: str) -> None:
    first = new_user(service, key, externalId=unique("ext"))
    again = scim(service, "POST", "/Users", {"schemas": [CORE], "userName": first["userName"].upper()}, key=key)
    assert error(again) == (409, "uniqueness") and "userName" in again.json["detail"]
    twin = scim(service, "POST", "/Users", {"schemas": [CORE], "userName": unique("u"),
                                            "externalId": first["externalId"]}, key=key)
    assert error(twin) == (409, "uniqueness") and "externalId" in twin.json["detail"]
    other = new_user(service, key)
    clash = scim(service, "PATCH", f"/Users/{other['id']}", patch_op(
        {"op": "replace", "path": "userName", "value": first["userName"]}), key=key)
    assert error(clash) == (409, "uniqueness")


def test_bad_values_are_invalid_value_naming_the_scim_attribute(service: Service, key: str) -> None:
    reply = scim(service, "POST", "/Users", {"schemas": [CORE], "userName": unique("u"), "locale": "not a locale",
                                             "timezone": "Mars/Olympus", "phoneNumbers": [{"value": "+0"}],
                                             "profileUrl": "ftp://example.com/x"}, key=key)
    assert error(reply) == (400, "invalidValue")
    assert all(name in reply.json["detail"] for name in ("locale:", "timezone:", "profileUrl:")), reply.text
    email = scim(service, "POST", "/Users", {"schemas": [CORE], "userName": unique("u"),
                                             "emails": [{"value": "nope"}]}, key=key)
    assert error(email) == (400, "invalidValue") and "emails" in email.json["detail"]
    unsupported = scim(service, "POST", "/Users", {"schemas": [CORE], "userName": unique("u"),
                                                   "ims": [{"value": "me", "type": "aim"}]}, key=key)
    assert error(unsupported) == (400, "invalidValue") and "ims" in unsupported.json["detail"]
    unknown = scim(service, "POST", "/Users", {"schemas": [CORE], "userName": unique("u"), "shoeSize": 9}, key=key)
    assert error(unknown)[0] == 400


def test_patch_errors_have_their_scim_type(service: Service, key: str) -> None:
    user_id = new_user(service, key)["id"]
    cases = [
        (patch_op({"op": "replace", "path": "emails[value co \"x\"].value", "value": "a@b.co"}), "noTarget"),
        (patch_op({"op": "replace", "path": "no such path!", "value": "x"}), "invalidPath"),
        (patch_op({"op": "remove", "path": "active"}), "mutability"),
        (patch_op({"op": "remove", "path": "userName"}), "mutability"),
        (patch_op({"op": "frobnicate", "path": "title", "value": "x"}), "invalidValue"),
        ({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": []}, "invalidValue"),
    ]
    before = service.get_user(key, user_id)
    for body, scim_type in cases:
        reply = scim(service, "PATCH", f"/Users/{user_id}", body, key=key)
        assert error(reply) == (400, scim_type), reply.text
    assert service.get_user(key, user_id) == before


def test_every_attribute_maps_to_a_column_or_to_attributes(service: Service, key: str) -> None:
    name = unique("full")
    body = {
        "schemas": [CORE, ENTERPRISE], "userName": name, "externalId": f"x-{name}",
        "name": {"givenName": "Barbara", "familyName": "Jensen", "middleName": "Jane", "formatted": "Ms. B J Jensen",
                 "honorificPrefix": "Ms.", "honorificSuffix": "III"},
        "displayName": "Babs", "nickName": "Barb", "profileUrl": "https://login.example.com/bjensen",
        "title": "Tour Guide", "userType": "Employee", "preferredLanguage": "en-US", "locale": "en-US",
        "timezone": "America/Los_Angeles", "active": True, "password": "t1meMa$heen",
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True},
                   {"value": "babs@jensen.org", "type": "home"}],
        "phoneNumbers": [{"value": "tel:+1-201-555-0123", "type": "work"}],
        "photos": [{"value": "https://photos.example.com/bjensen.jpg", "type": "photo"}],
        "addresses": [{"streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "region": "CA",
                       "postalCode": "91608", "country": "US", "type": "work", "primary": True}],
        "roles": [{"value": "guide", "display": "Tour guide", "type": "staff"}, {"value": "admin"}],
        ENTERPRISE: {"employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
                     "division": "Theme Park", "department": "Tour Operations", "manager": {"value": "26118915"}},
    }
    created = scim(service, "POST", "/Users", body, key=key)
    assert created.status == 201, created.text
    stored = service.get_user(key, created.json["id"])
    assert (stored.username, stored.external_id, stored.given_name, stored.family_name, stored.middle_name) == (
        name, f"x-{name}", "Barbara", "Jensen", "Jane")
    assert (stored.display_name, stored.nickname, stored.profile, stored.locale, stored.zoneinfo) == (
        "Babs", "Barb", "https://login.example.com/bjensen", "en-US", "America/Los_Angeles")
    assert (stored.email, stored.phone_number, stored.picture) == (
        "bjensen@example.com", "+12015550123", "https://photos.example.com/bjensen.jpg")
    assert (stored.address.street_address, stored.address.locality, stored.address.country) == (
        "100 Universal City Plaza", "Hollywood", "US")
    assert list(stored.roles) == ["guide", "admin"] and stored.state == User.ACTIVE
    plain = {k: v for k, v in stored.attributes.items() if not k.startswith("scim")}
    assert plain == {"nameFormatted": "Ms. B J Jensen", "honorificPrefix": "Ms.", "honorificSuffix": "III",
                     "title": "Tour Guide", "userType": "Employee", "preferredLanguage": "en-US",
                     "employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
                     "division": "Theme Park", "department": "Tour Operations", "manager": "26118915"}
    # The lists the columns alone cannot say (a second e-mail, a phone as sent, roles' display...) are
    # kept whole; the address (work, primary) is said by its column alone.
    assert sorted(k for k in stored.attributes if k.startswith("scim")) == [
        "scimEmails", "scimPhoneNumbers", "scimPhotos", "scimRoles"]
    # What SCIM shows is what was sent, less the password (write-only, never returned).
    shown = scim(service, "GET", f"/Users/{stored.id}", key=key).json
    assert "password" not in shown and "password" not in json.dumps(shown)
    for attribute in ("name", "emails", "phoneNumbers", "photos", "addresses", "roles", ENTERPRISE):
        assert shown[attribute] == body[attribute], attribute
    login = service.call("VerifyPassword", user_service_pb2.VerifyPasswordRequest(
        username=name, password="t1meMa$heen"), key)
    assert login.user.id == stored.id


def test_changes_through_the_canonical_api_show_through_scim(service: Service, key: str) -> None:
    made = new_user(service, key, emails=[{"value": "one@example.com", "type": "work", "primary": True},
                                          {"value": "two@example.com", "type": "home"}])
    service.call("UpdateUser", user_service_pb2.UpdateUserRequest(
        user=User(id=made["id"], email="new@example.com", display_name="Canon")), key)
    shown = scim(service, "GET", f"/Users/{made['id']}", key=key).json
    assert shown["displayName"] == "Canon"
    assert shown["emails"] == [{"value": "new@example.com", "type": "work", "primary": True},
                               {"value": "two@example.com", "type": "home"}]


def test_a_stored_list_that_no_longer_validates_shows_as_its_column(service: Service, key: str) -> None:
    made = new_user(service, key, emails=[{"value": "one@example.com", "type": "home"}])
    service.call("UpdateUser", user_service_pb2.UpdateUserRequest(
        user=User(id=made["id"], attributes={"scimEmails": '[{"value": "one@example.com", "primary": "maybe"}]'}),
        update_mask={"paths": ["attributes.scimEmails"]}), key)
    shown = scim(service, "GET", f"/Users/{made['id']}", key=key)
    assert shown.status == 200, shown.text
    assert shown.json["emails"] == [{"value": "one@example.com", "type": "work", "primary": True}]


def test_put_replaces_every_mapped_attribute_and_is_audited(service: Service, key: str) -> None:
    made = new_user(service, key, title="Old", nickName="Nick", emails=[{"value": "a@example.com"}],
                    displayName="Keep?")
    service.call("UpdateUser", user_service_pb2.UpdateUserRequest(
        user=User(id=made["id"], attributes={"team": "blue"})), key)  # not SCIM's: a PUT leaves it
    reply = scim(service, "PUT", f"/Users/{made['id']}", {"schemas": [CORE], "userName": made["userName"],
                                                          "displayName": "New"}, key=key)
    assert reply.status == 200, reply.text
    stored = service.get_user(key, made["id"])
    assert stored.display_name == "New" and not stored.nickname and not stored.HasField("email")
    assert dict(stored.attributes) == {"team": "blue"} and stored.state == User.ACTIVE
    methods = [c.method for c in changes(service, key, made["id"])]
    assert methods == ["CreateUser", "UpdateUser", "ScimReplaceUser"]
    assert scim(service, "DELETE", f"/Users/{made['id']}", key=key).status == 204
    assert [c.method for c in changes(service, key, made["id"])][-1] == "ScimDeleteUser"


def test_discovery_says_what_is_supported(service: Service, key: str) -> None:
    config = scim(service, "GET", "/ServiceProviderConfig", key=key).json
    assert (config["patch"]["supported"], config["bulk"]["supported"], config["etag"]["supported"]) == (
        True, False, True)
    assert config["filter"] == {"supported": True, "maxResults": 1000} and config["sort"]["supported"] is False
    types = scim(service, "GET", "/ResourceTypes", key=key).json
    assert [t["id"] for t in types["Resources"]] == ["User"]
    assert types["Resources"][0]["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    user_schema = scim(service, "GET", f"/Schemas/{CORE}", key=key).json
    names = {a["name"] for a in user_schema["attributes"]}
    assert {"userName", "emails", "roles", "password"} <= names and not names & {"ims", "groups", "entitlements"}
    assert error(scim(service, "GET", "/Schemas/urn:nope", key=key)) == (404, None)
    assert error(scim(service, "GET", "/Groups", key=key)) == (404, None)
    assert error(scim(service, "POST", "/Bulk", {}, key=key)) == (404, None)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert error(scim(service, method, "/Schemas", {}, key=key)) == (405, None)
    assert error(scim(service, "DELETE", "/Users", key=key)) == (405, None)


def test_the_primary_entry_else_the_work_one_is_the_column(service: Service, key: str) -> None:
    work = new_user(service, key, emails=[{"value": "home@example.com", "type": "home"},
                                          {"value": "work@example.com", "type": "work"}])
    assert service.get_user(key, work["id"]).email == "work@example.com"
    primary = new_user(service, key, emails=[{"value": "work2@example.com", "type": "work"},
                                             {"value": "main@example.com", "type": "home", "primary": True}])
    assert service.get_user(key, primary["id"]).email == "main@example.com"
    first = new_user(service, key, emails=[{"value": "a1@example.com"}, {"value": "a2@example.com"}])
    assert service.get_user(key, first["id"]).email == "a1@example.com"
