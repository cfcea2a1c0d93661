"""UserKit's "Update a user" (seed 000) through the real Envoy: POST /v1/users/{user_id}, basic auth."""

from __future__ import annotations

from typing import Any

from userservice.v1 import user_pb2, user_service_pb2

from tests.support import Service, basic, unique


def update(service: Service, key: str, user_id: str, body: Any, **headers: str):
    return service.rest("POST", f"/v1/users/{user_id}", body, headers={"authorization": basic(key), **headers})


def errors(reply) -> list[tuple[str, str | None]]:
    body = reply.json
    assert body["error"] == body["errors"][0]
    return [(e["code"], e["param"]) for e in body["errors"]]


def test_documented_example_updates_name_and_username(service: Service, admin_key: str, user: Any) -> None:
    name = unique("janes")
    reply = update(service, admin_key, user.id, {"name": "Jane Smith", "username": name})
    assert reply.status == 200, reply.text
    body = reply.json
    assert set(body) == {"id", "name", "username", "email", "verified_email", "verified_phone", "auth_type",
                         "disabled", "created", "last_failed_login", "last_login", "extras"}
    assert body["id"] == user.id and body["name"] == "Jane Smith" and body["username"] == name
    assert body["email"] == user.email and body["verified_email"] is None and body["last_login"] is None
    assert body["auth_type"] == "password" and body["disabled"] is False
    assert isinstance(body["created"], float) and '"password":' not in reply.text
    got = service.get_user(admin_key, user.id)
    assert got.display_name == "Jane Smith" and got.username == name
    assert reply.headers["etag"] == got.etag


def test_phone_auth_type_email_and_clearing(service: Service, admin_key: str, user: Any) -> None:
    reply = update(service, admin_key, user.id, {"phone": "+15552323353", "auth_type": "two_factor",
                                                   "email": "Jane.Smith@example.com"})
    assert reply.status == 200, reply.text
    assert reply.json["auth_type"] == "two_factor" and reply.json["email"] == "Jane.Smith@example.com"
    assert reply.json["verified_phone"] is None  # not verified yet
    got = service.get_user(admin_key, user.id)
    assert got.phone_number == "+15552323353" and got.auth_type == user_pb2.User.TWO_FACTOR
    cleared = update(service, admin_key, user.id, {"phone": ""})
    assert cleared.status == 200 and not service.get_user(admin_key, user.id).HasField("phone_number")


def test_absent_fields_are_kept(service: Service, admin_key: str, user: Any) -> None:
    update(service, admin_key, user.id, {"name": "Keep Me"})
    reply = update(service, admin_key, user.id, {"auth_type": "one_time_password"})
    assert reply.status == 200 and reply.json["name"] == "Keep Me"
    assert service.get_user(admin_key, user.id).email == user.email


def test_disabled_when_locked_and_verified_values(service: Service, admin_key: str, user: Any) -> None:
    service.call("UpdateUser", user_service_pb2.UpdateUserRequest(
        user=user_pb2.User(id=user.id, state=user_pb2.User.LOCKED, email_verified=True)), admin_key)
    reply = update(service, admin_key, user.id, {"name": "Locked"})
    assert reply.json["disabled"] is True and reply.json["verified_email"] == user.email


def test_password_is_stored_hashed_and_verifiable(service: Service, admin_key: str, user: Any) -> None:
    reply = update(service, admin_key, user.id, {"password": "A-New-Secret-9"})
    assert reply.status == 200 and "A-New-Secret-9" not in reply.text
    ok = service.call("VerifyPassword", user_service_pb2.VerifyPasswordRequest(
        username=user.username, password="A-New-Secret-9"), admin_key)
    assert ok.user.id == user.id


def test_every_bad_parameter_is_reported_in_userkit_shape(service: Service, admin_key: str, user: Any) -> None:
    reply = update(service, admin_key, user.id, {"username": "bad name", "email": "nope", "auth_type": "sms"})
    assert reply.status == 400
    assert sorted(errors(reply)) == [("invalid_auth_type", "auth_type"), ("invalid_email", "email"),
                                     ("invalid_username", "username")]
    assert {e["type"] for e in reply.json["errors"]} == {"invalid_request_error"}
    assert service.get_user(admin_key, user.id).username == user.username  # nothing written


def test_phone_is_named_phone(service: Service, admin_key: str, user: Any) -> None:
    reply = update(service, admin_key, user.id, {"phone": "555-1234", "name": "x" * 300})
    assert reply.status == 400 and sorted(p for _, p in errors(reply)) == ["name", "phone"]


def test_verified_phone_token_is_refused(service: Service, admin_key: str, user: Any) -> None:
    reply = update(service, admin_key, user.id, {"phone": "+15552323353", "verified_phone_token": "123456"})
    assert reply.status == 400 and errors(reply) == [("invalid_verified_phone_token", "verified_phone_token")]
    assert not service.get_user(admin_key, user.id).HasField("phone_number")


def test_taken_username_is_an_invalid_request_named_username_taken(service: Service, admin_key: str,
                                                                   user: Any) -> None:
    other = service.create(admin_key)
    reply = update(service, admin_key, user.id, {"username": other.username})
    assert reply.status == 400 and errors(reply) == [("username_taken", "username")]
    assert reply.json["error"]["type"] == "invalid_request_error"


def test_bad_or_missing_key_is_401(service: Service, user: Any) -> None:
    bad = update(service, "usk_nope_nope", user.id, {"name": "x"})
    assert bad.status == 401 and bad.json["error"]["type"] == "authentication_error"
    assert errors(bad) == [("invalid_api_key", None)]
    missing = service.rest("POST", f"/v1/users/{user.id}", {"name": "x"})
    assert missing.status == 401 and errors(missing) == [("missing_api_key", None)]


def test_reader_key_and_other_users_key_are_invalid_requests(service: Service, user: Any) -> None:
    reader = service.key("reader", tenant="acme")
    reply = update(service, reader, user.id, {"name": "x"})
    assert reply.status == 400 and reply.json["error"]["type"] == "invalid_request_error"
    assert errors(reply) == [("field_not_writable", "name")]
    someone = service.create(service.key("admin", tenant="acme"))
    own = service.key("user", tenant="acme", user=someone.id)
    foreign = update(service, own, user.id, {"name": "x"})
    assert foreign.status == 400 and errors(foreign) == [("permission_denied", None)]


def test_user_key_updates_itself_but_not_its_password(service: Service, admin_key: str, user: Any) -> None:
    own = service.key("user", tenant="acme", user=user.id)
    assert update(service, own, user.id, {"name": "Self"}).status == 200
    reply = update(service, own, user.id, {"password": "Another-Pass-7"})
    assert reply.status == 400 and errors(reply) == [("field_not_writable", "password")]


def test_unknown_user_and_other_tenant_are_resource_not_found(service: Service, admin_key: str, user: Any) -> None:
    reply = update(service, admin_key, "usr_doesnotexist0000000", {"name": "x"})
    assert reply.status == 400 and errors(reply) == [("user_not_found", "user_id")]
    assert reply.json["error"]["type"] == "resource_not_found_error"
    elsewhere = service.key("admin", tenant=unique("other"))
    other = update(service, elsewhere, user.id, {"name": "x"})
    assert other.status == 400 and other.json["error"]["type"] == "resource_not_found_error"


def test_extras_replace_the_attributes_whole(service: Service, admin_key: str, user: Any) -> None:
    reply = update(service, admin_key, user.id, {"extras": {"plan": "pro", "seats": 5, "trial": False, "gone": None}})
    assert reply.status == 200, reply.text
    assert reply.json["extras"] == {"plan": "pro", "seats": "5", "trial": "false"}
    assert dict(service.get_user(admin_key, user.id).attributes) == {"plan": "pro", "seats": "5", "trial": "false"}
    again = update(service, admin_key, user.id, {"extras": {"plan": "team"}})
    assert again.json["extras"] == {"plan": "team"}
    kept = update(service, admin_key, user.id, {"name": "No Extras Sent"})
    assert kept.json["extras"] == {"plan": "team"}
    cleared = update(service, admin_key, user.id, {"extras": {}})
    assert cleared.json["extras"] == {} and not service.get_user(admin_key, user.id).attributes


def test_bad_extras_are_named(service: Service, admin_key: str, user: Any) -> None:
    reply = update(service, admin_key, user.id, {"extras": {"nested": {"a": 1}, "bad-key": "x", "ok": "y"}})
    assert reply.status == 400
    assert sorted(errors(reply)) == [("invalid_extras", "extras.bad-key"), ("invalid_extras", "extras.nested")]
    assert not service.get_user(admin_key, user.id).attributes


def test_get_user_with_userkit_header_answers_in_userkit_shape(service: Service, admin_key: str, user: Any) -> None:
    headers = {"authorization": basic(admin_key), "x-escape": "false"}
    updated = update(service, admin_key, user.id, {"name": "Read Back"})
    got = service.rest("GET", f"/v1/users/{user.id}", headers=headers)
    assert got.status == 200 and got.json == updated.json and got.headers["etag"] == updated.headers["etag"]
    gone = service.rest("GET", "/v1/users/usr_doesnotexist0000000", headers=headers)
    assert gone.status == 400 and gone.json["error"]["type"] == "resource_not_found_error"
    canonical = service.rest("GET", f"/v1/users/{user.id}", headers={"authorization": basic(admin_key)})
    assert canonical.status == 200 and canonical.json["displayName"] == "Read Back"  # no X-Escape: GetUser
    missing = service.rest("GET", "/v1/users/usr_doesnotexist0000000", headers={"authorization": basic(admin_key)})
    assert missing.status == 404 and missing.json["code"] == 5


def test_canonical_routes_beside_it_still_work(service: Service, admin_key: str, user: Any) -> None:
    service.rest("DELETE", f"/v1/users/{user.id}", key=admin_key)
    undeleted = service.rest("POST", f"/v1/users/{user.id}:undelete", {}, key=admin_key)
    assert undeleted.status == 200 and undeleted.json["state"] == "ACTIVE"
    created = service.rest("POST", "/v1/users", {"username": unique()}, key=admin_key)
    assert created.status == 200 and created.json["id"].startswith("usr_")


def test_native_grpc_callers_get_rich_statuses(service: Service, admin_key: str, user: Any) -> None:
    import grpc
    from userservice.v1 import compat_userkit_pb2, compat_userkit_pb2_grpc

    from tests.support import rpc_error

    stub = compat_userkit_pb2_grpc.UserKitCompatServiceStub(service.channel)
    md = (("authorization", f"Bearer {admin_key}"),)
    ok = stub.UserKitUpdateUser(compat_userkit_pb2.UserKitUpdateUserRequest(user_id=user.id, name="Grpc"),
                                metadata=md, timeout=10)
    assert ok.content_type == "application/json" and b'"Grpc"' in ok.data
    try:
        stub.UserKitUpdateUser(compat_userkit_pb2.UserKitUpdateUserRequest(user_id=user.id, email="nope"),
                               metadata=md, timeout=10)
    except grpc.RpcError as err:
        info = rpc_error(err)
        assert info.code == grpc.StatusCode.INVALID_ARGUMENT and info.fields == ["email"]
    else:
        raise AssertionError("an invalid e-mail was accepted")
