"""Seed 004's PUT /users/{userId} through the real Envoy, with its own field rules."""

from __future__ import annotations

from typing import Any

from userservice.v1 import user_pb2, user_service_pb2

from tests.compat.helpers import reason, violations
from tests.support import Service, unique


def put(service: Service, key: str, user_id: str, body: Any):
    return service.rest("PUT", f"/users/{user_id}", body, key=key)


def test_every_documented_field(service: Service, admin_key: str, user: Any) -> None:
    name = unique("pm")
    body = {"userName": name, "password": "Str0ng!Secret", "firstName": "Ada", "lastName": "Lovelace",
            "company": "Analytical Engines", "email": f"{name}@example.com", "phone": "+442071234567",
            "mobile": "+447700900123", "address": {"streetAddress": "12 St James's Square", "locality": "London",
                                                   "country": "UK"},
            "status": "ACTIVE", "sso": True, "ssoId": f"sso-{name}", "defaultRoleTemplateId": "tmpl-7"}
    reply = put(service, admin_key, user.id, body)
    assert reply.status == 200, reply.text
    out = reply.json
    assert out["id"] == user.id and out["userName"] == name and out["status"] == "ACTIVE" and out["sso"] is True
    for key in ("firstName", "lastName", "company", "email", "phone", "mobile", "ssoId", "defaultRoleTemplateId"):
        assert out[key] == body[key], key
    assert out["address"] == {"street_address": "12 St James's Square", "locality": "London", "country": "UK"}
    assert "password" not in out
    got = service.get_user(admin_key, user.id)
    assert (got.username, got.given_name, got.family_name, got.phone_number, got.external_id) == (
        name, "Ada", "Lovelace", "+442071234567", f"sso-{name}")
    assert got.state == user_pb2.User.ACTIVE and got.address.locality == "London"
    assert dict(got.attributes) == {"company": "Analytical Engines", "mobile": "+447700900123",
                                    "defaultRoleTemplateId": "tmpl-7"}
    assert service.call("VerifyPassword", user_service_pb2.VerifyPasswordRequest(
        username=name, password="Str0ng!Secret"), admin_key).user.id == user.id


def test_empty_first_and_last_name_clear_them(service: Service, admin_key: str, user: Any) -> None:
    put(service, admin_key, user.id, {"firstName": "A", "lastName": "B", "company": "C"})
    reply = put(service, admin_key, user.id, {"firstName": "", "lastName": ""})
    assert reply.status == 200 and "firstName" not in reply.json and reply.json["company"] == "C"
    got = service.get_user(admin_key, user.id)
    assert not got.given_name and not got.family_name and got.email == user.email


def test_username_email_password_may_not_be_empty(service: Service, admin_key: str, user: Any) -> None:
    reply = put(service, admin_key, user.id, {"userName": "", "email": "", "password": ""})
    assert reply.status == 400 and sorted(violations(reply)) == ["email", "password", "userName"]
    assert service.get_user(admin_key, user.id).email == user.email


def test_username_charset(service: Service, admin_key: str, user: Any) -> None:
    reply = put(service, admin_key, user.id, {"userName": "no spaces!"})
    assert reply.status == 400 and violations(reply) == ["userName"]
    ok = put(service, admin_key, user.id, {"userName": f"a.b-c_d@{unique()}"})
    assert ok.status == 200


def test_password_rule(service: Service, admin_key: str, user: Any) -> None:
    for weak in ("alllowercase1!", "ALLUPPERCASE1!", "NoDigits!!", "NoSpecial123", "Sh0rt!"):
        reply = put(service, admin_key, user.id, {"password": weak})
        assert reply.status == 400 and set(violations(reply)) == {"password"}, weak
    with_name = put(service, admin_key, user.id, {"password": f"x1!{user.username.upper()}"})
    assert with_name.status == 400 and violations(with_name) == ["password"]
    assert put(service, admin_key, user.id, {"password": "G00d!Enough"}).status == 200


def test_status_deleted_and_back(service: Service, admin_key: str, user: Any) -> None:
    locked = put(service, admin_key, user.id, {"status": "LOCKED"})
    assert locked.status == 200 and service.get_user(admin_key, user.id).state == user_pb2.User.LOCKED
    deleted = put(service, admin_key, user.id, {"status": "DELETED", "company": "Gone Inc"})
    assert deleted.status == 200 and deleted.json["status"] == "DELETED" and deleted.json["company"] == "Gone Inc"
    assert service.get_user(admin_key, user.id).state == user_pb2.User.DELETED
    back = put(service, admin_key, user.id, {"status": "ACTIVE", "firstName": "Back"})
    assert back.status == 200 and back.json["status"] == "ACTIVE" and back.json["firstName"] == "Back"
    refused = put(service, admin_key, user.id, {"status": "PAUSED"})
    assert refused.status == 400 and violations(refused) == ["status"]


def test_sso_rules(service: Service, admin_key: str, user: Any) -> None:
    need = put(service, admin_key, user.id, {"sso": True})
    assert need.status == 400 and violations(need) == ["ssoId"]
    assert put(service, admin_key, user.id, {"sso": True, "ssoId": f"s-{user.id}"}).json["sso"] is True
    off = put(service, admin_key, user.id, {"sso": False})
    assert off.status == 200 and off.json["sso"] is False and not service.get_user(admin_key, user.id).external_id


def test_bad_address(service: Service, admin_key: str, user: Any) -> None:
    reply = put(service, admin_key, user.id, {"address": {"planet": "Mars", "locality": 7}})
    assert reply.status == 400 and sorted(violations(reply)) == ["address.locality", "address.planet"]


def test_non_admin_updates_only_itself(service: Service, admin_key: str, user: Any) -> None:
    own = service.key("user", tenant="acme", user=user.id)
    assert put(service, own, user.id, {"firstName": "Me"}).status == 200
    other = service.create(admin_key)
    assert put(service, own, other.id, {"firstName": "You"}).status == 403
    status = put(service, own, user.id, {"status": "LOCKED"})
    assert status.status == 403 and reason(status) == "FIELD_NOT_WRITABLE"
    reader = service.key("reader", tenant="acme")
    assert put(service, reader, user.id, {"firstName": "R"}).status == 403


def test_auth_and_not_found(service: Service, admin_key: str, user: Any) -> None:
    assert put(service, "", user.id, {"firstName": "x"}).status == 401
    assert put(service, "usk_bad_key", user.id, {"firstName": "x"}).status == 401
    assert put(service, admin_key, "usr_nobody000", {"firstName": "x"}).status == 404
    assert put(service, service.key("admin", tenant=unique("t")), user.id, {"firstName": "x"}).status == 404


def changes_of(service: Service, key: str, user_id: str) -> int:
    return len(service.call("ListUserChanges", user_service_pb2.ListUserChangesRequest(id=user_id), key).changes)


def test_a_user_key_deleting_itself_with_a_field_change_is_refused_and_writes_nothing(
        service: Service, admin_key: str, user: Any) -> None:
    key = service.key("user", tenant="acme", user=user.id)
    before, audited = service.get_user(admin_key, user.id), changes_of(service, admin_key, user.id)
    reply = put(service, key, user.id, {"firstName": "X", "status": "DELETED"})
    assert reply.status == 403 and reason(reply) == "FIELD_NOT_WRITABLE"
    after = service.get_user(admin_key, user.id)
    assert after == before and changes_of(service, admin_key, user.id) == audited


def test_undeleting_with_a_taken_email_is_refused_and_leaves_the_user_deleted(
        service: Service, admin_key: str, user: Any) -> None:
    name = unique("taken")
    other = service.create(admin_key, username=name, email=f"{name}@example.com")
    service.call("DeleteUser", user_service_pb2.DeleteUserRequest(id=user.id), admin_key)
    before, audited = service.get_user(admin_key, user.id), changes_of(service, admin_key, user.id)
    reply = put(service, admin_key, user.id, {"status": "ACTIVE", "email": other.email})
    assert reply.status == 409 and reason(reply) == "EMAIL_TAKEN"
    after = service.get_user(admin_key, user.id)
    assert after == before and after.state == user_pb2.User.DELETED
    assert changes_of(service, admin_key, user.id) == audited


def test_a_stale_if_match_refuses_a_status_change(service: Service, admin_key: str, user: Any) -> None:
    reply = service.rest("PUT", f"/users/{user.id}", {"status": "DELETED"}, key=admin_key,
                         headers={"If-Match": '"stale"'})
    assert reply.status == 409 and reason(reply) == "ETAG_MISMATCH"
    assert service.get_user(admin_key, user.id).state == user_pb2.User.ACTIVE
    done = service.rest("PUT", f"/users/{user.id}", {"status": "DELETED", "firstName": "Gone"}, key=admin_key,
                        headers={"If-Match": user.etag})
    assert done.status == 200 and done.json["status"] == "DELETED"
    got = service.get_user(admin_key, user.id)
    assert (got.state, got.given_name) == (user_pb2.User.DELETED, "Gone")
