"""Rocket.Chat's users.update (seed 002) through the real Envoy, with X-Auth-Token and X-User-Id."""

from __future__ import annotations

from typing import Any

from userservice.v1 import user_pb2

from tests.support import Service, unique

#: Rocket.Chat's own reply to missing or bad credentials.
UNAUTHORIZED = {"status": "error", "message": "You must be logged in to do this."}


def update(service: Service, key: str, acting: str, body: Any):
    return service.rest("POST", "/api/v1/users.update", body, headers={"x-auth-token": key, "x-user-id": acting})


def info(service: Service, key: str, acting: str, query: str):
    return service.rest("GET", f"/api/v1/users.info?{query}", headers={"x-auth-token": key, "x-user-id": acting})


def violations(reply) -> list[str]:
    """The request fields a Rocket.Chat failure names."""
    body = reply.json
    assert body["success"] is False and body["error"].endswith(f"[{body['errorType']}]")
    return [f["field"] for f in body["details"]["fields"]]


def error_type(reply) -> str:
    assert reply.json["success"] is False
    return str(reply.json["errorType"])


def test_documented_example(service: Service, admin_key: str, user: Any) -> None:
    body = {"userId": user.id, "data": {"name": "new name", "email": "newemail@user.tld"}}
    reply = update(service, admin_key, user.id, body)
    assert reply.status == 200, reply.text
    out = reply.json
    assert out["success"] is True
    u = out["user"]
    assert {"_id", "createdAt", "username", "emails", "type", "active", "roles", "_updatedAt", "name",
            "customFields"} <= set(u)
    assert "services" not in u and "password" not in u
    assert u["_id"] == user.id and u["name"] == "new name" and u["username"] == user.username
    assert u["emails"] == [{"address": "newemail@user.tld", "verified": False}] and u["active"] is True
    got = service.get_user(admin_key, user.id)
    assert got.display_name == "new name" and got.email == "newemail@user.tld"
    assert reply.headers["etag"] == got.etag


def test_empty_data_returns_the_user_unchanged(service: Service, admin_key: str, user: Any) -> None:
    before = service.get_user(admin_key, user.id)
    reply = update(service, admin_key, user.id, {"userId": user.id, "data": {}})
    assert reply.status == 200 and reply.json["user"]["username"] == user.username
    assert service.get_user(admin_key, user.id).etag == before.etag


def test_active_roles_verified_require_password_change_custom_fields(service: Service, admin_key: str,
                                                                     user: Any) -> None:
    body = {"userId": user.id, "data": {"active": False, "roles": ["moderator", "user"], "verified": True,
                                        "requirePasswordChange": True,
                                        "customFields": {"twitter": "@example", "age": 42, "vip": True}}}
    reply = update(service, admin_key, user.id, body)
    assert reply.status == 200, reply.text
    u = reply.json["user"]
    assert u["active"] is False and u["roles"] == ["moderator", "user"] and u["requirePasswordChange"] is True
    assert u["emails"][0]["verified"] is True
    assert u["customFields"] == {"twitter": "@example", "age": "42", "vip": "true"}
    got = service.get_user(admin_key, user.id)
    assert got.state == user_pb2.User.LOCKED and got.email_verified and got.require_password_change
    assert dict(got.attributes) == {"twitter": "@example", "age": "42", "vip": "true"}
    again = update(service, admin_key, user.id, {"userId": user.id, "data": {"active": True,
                                                                           "customFields": {"age": None}}})
    assert again.json["user"]["active"] is True
    assert dict(service.get_user(admin_key, user.id).attributes) == {"twitter": "@example", "vip": "true"}


def test_username_and_password(service: Service, admin_key: str, user: Any) -> None:
    name = unique("rc")
    reply = update(service, admin_key, user.id, {"userId": user.id, "data": {"username": name,
                                                                            "password": "pass@w0rd-Long"}})
    assert reply.status == 200 and reply.json["user"]["username"] == name and "pass@w0rd" not in reply.text


def test_bad_fields_are_named_as_data_fields(service: Service, admin_key: str, user: Any) -> None:
    body = {"userId": user.id, "data": {"email": "nope", "roles": ["653fb63ba2f73c7460e18e90"],
                                        "customFields": {"bad-key": "x", "nested": {"a": 1}}, "username": ""}}
    reply = update(service, admin_key, user.id, body)
    assert reply.status == 400
    assert sorted(violations(reply)) == ["data.customFields.bad-key", "data.customFields.nested", "data.email",
                                         "data.roles", "data.username"]
    assert service.get_user(admin_key, user.id).email == user.email


def test_welcome_email_and_default_channels(service: Service, admin_key: str, user: Any) -> None:
    reply = update(service, admin_key, user.id, {"userId": user.id, "data": {
        "sendWelcomeEmail": True, "joinDefaultChannels": True, "name": "x"}})
    assert reply.status == 400
    assert sorted(violations(reply)) == ["data.joinDefaultChannels", "data.sendWelcomeEmail"]
    ok = update(service, admin_key, user.id, {"userId": user.id, "data": {
        "sendWelcomeEmail": False, "joinDefaultChannels": False, "name": "y"}})
    assert ok.status == 200 and ok.json["user"]["name"] == "y"


def test_user_token_must_name_its_own_user(service: Service, admin_key: str, user: Any) -> None:
    own = service.key("user", tenant="acme", user=user.id)
    ok = update(service, own, user.id, {"userId": user.id, "data": {"name": "mine"}})
    assert ok.status == 200
    other = service.create(admin_key)
    mismatch = update(service, own, other.id, {"userId": user.id, "data": {"name": "x"}})
    assert mismatch.status == 401 and mismatch.json == UNAUTHORIZED
    foreign = update(service, own, user.id, {"userId": other.id, "data": {"name": "x"}})
    assert foreign.status == 403 and error_type(foreign) == "error-action-not-allowed"
    admin_only = update(service, own, user.id, {"userId": user.id, "data": {"active": False, "roles": []}})
    assert admin_only.status == 403 and error_type(admin_only) == "error-action-not-allowed"
    assert sorted(violations(admin_only)) == ["data.active", "data.roles"]


def test_admin_acts_for_any_user_of_its_tenant(service: Service, admin_key: str, user: Any) -> None:
    other = service.create(admin_key)
    assert update(service, admin_key, other.id, {"userId": user.id, "data": {"name": "z"}}).status == 200
    unknown = update(service, admin_key, "usr_nobody", {"userId": user.id, "data": {"name": "z"}})
    assert unknown.status == 401 and unknown.json == UNAUTHORIZED


def test_missing_credentials_and_unknown_user(service: Service, admin_key: str, user: Any) -> None:
    no_user_id = service.rest("POST", "/api/v1/users.update", {"userId": user.id, "data": {}},
                              headers={"x-auth-token": admin_key})
    assert no_user_id.status == 401 and no_user_id.json == UNAUTHORIZED
    no_token = service.rest("POST", "/api/v1/users.update", {"userId": user.id, "data": {}},
                            headers={"x-user-id": user.id})
    assert no_token.status == 401 and no_token.json == UNAUTHORIZED
    bad_token = update(service, "usk_bad_key", user.id, {"userId": user.id, "data": {}})
    assert bad_token.status == 401 and bad_token.json == UNAUTHORIZED
    gone = update(service, admin_key, user.id, {"userId": "usr_nobody0000", "data": {"name": "q"}})
    assert gone.status == 400 and error_type(gone) == "error-invalid-user"
    missing = update(service, admin_key, user.id, {"userId": user.id})
    assert missing.status == 400 and error_type(missing) == "invalid-params" and violations(missing) == ["data"]


def test_taken_username_is_error_field_unavailable(service: Service, admin_key: str, user: Any) -> None:
    other = service.create(admin_key)
    reply = update(service, admin_key, user.id, {"userId": user.id, "data": {"username": other.username}})
    assert reply.status == 400 and error_type(reply) == "error-field-unavailable"
    assert violations(reply) == ["data.username"]


def test_users_info_by_id_and_by_username(service: Service, admin_key: str, user: Any) -> None:
    updated = update(service, admin_key, user.id, {"userId": user.id, "data": {"name": "Info Name"}})
    by_id = info(service, admin_key, user.id, f"userId={user.id}")
    assert by_id.status == 200, by_id.text
    assert by_id.json == updated.json and by_id.headers["etag"] == updated.headers["etag"]
    by_name = info(service, admin_key, user.id, f"username={user.username.upper()}")
    assert by_name.status == 200 and by_name.json["user"]["_id"] == user.id


def test_users_info_errors(service: Service, admin_key: str, user: Any) -> None:
    unknown = info(service, admin_key, user.id, "userId=usr_nobody0000")
    assert unknown.status == 400 and error_type(unknown) == "error-invalid-user"
    assert unknown.json["error"] == "User not found. [error-invalid-user]"
    no_name = info(service, admin_key, user.id, "username=nobody-at-all")
    assert no_name.status == 400 and error_type(no_name) == "error-invalid-user"
    neither = info(service, admin_key, user.id, "")
    assert neither.status == 400 and violations(neither) == ["userId"]
    elsewhere = service.key("admin", tenant=unique("other"))
    other_tenant = info(service, elsewhere, user.id, f"userId={user.id}")
    assert other_tenant.status == 401 and other_tenant.json == UNAUTHORIZED  # X-User-Id is not of its tenant
    someone = service.create(service.key("admin", tenant=unique("other2")))
    assert info(service, elsewhere, user.id, f"userId={someone.id}").status == 401
    own = service.key("user", tenant="acme", user=user.id)
    other = service.create(admin_key)
    foreign = info(service, own, user.id, f"userId={other.id}")
    assert foreign.status == 403 and error_type(foreign) == "error-action-not-allowed"
