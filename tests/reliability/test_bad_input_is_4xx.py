"""Bad input that used to find a 5xx: control characters (PostgreSQL refuses U+0000), forged page tokens,
oversized native gRPC calls and URLs through Envoy. Each is a clear 4xx, the same on both backends."""

from __future__ import annotations

import base64
import json
import urllib.parse
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc

from service.users import fields
from service.users.fields import Kind
from tests.reliability.test_bad_input import LEAKS
from tests.support import Service, rpc_error, unique

pytestmark = pytest.mark.timeout(120)
NUL = "\x00"
#: Every text field an update can write (the password is hashed, never stored as text).
TEXT_FIELDS = sorted(f.name for f in fields.WRITABLE if f.kind is Kind.TEXT)
INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND


def update(user_id: str, user: user_pb2.User, *paths: str) -> user_service_pb2.UpdateUserRequest:
    user.id = user_id
    return user_service_pb2.UpdateUserRequest(user=user, update_mask=field_mask_pb2.FieldMask(paths=list(paths)))


@pytest.mark.parametrize("name", TEXT_FIELDS)
@pytest.mark.parametrize("char", [NUL, "\x1b", "\x85"])
def test_a_control_character_in_any_text_field_is_refused_naming_the_field(service: Service, admin_key: str,
                                                                            user: Any, name: str, char: str) -> None:
    err = service.error("UpdateUser", update(user.id, user_pb2.User(**{name: f"a{char}b"}), name), admin_key)
    assert (err.code, err.fields) == (INVALID, [name])
    created = service.error("CreateUser", user_service_pb2.CreateUserRequest(user=user_pb2.User(
        **{"username": unique(), name: f"a{char}b"})), admin_key)
    assert (created.code, created.fields) == (INVALID, [name])
    assert service.get_user(admin_key, user.id).etag == user.etag


def test_control_characters_in_address_parts_and_attribute_values_are_refused(service: Service, admin_key: str,
                                                                              user: Any) -> None:
    err = service.error("UpdateUser", update(user.id, user_pb2.User(
        address=user_pb2.Address(locality=f"Paris{NUL}", formatted=f"1 rue{NUL}"), attributes={"team": f"b{NUL}"}),
        "address", "attributes.team"), admin_key)
    assert (err.code, sorted(err.fields)) == (INVALID, ["address.formatted", "address.locality", "attributes.team"])
    reply = service.rest("PATCH", f"/v1/users/{user.id}?updateMask=attributes.team",
                         {"attributes": {"team": "a\u0000"}}, key=admin_key)
    assert reply.status == 400 and reply.json["details"][0]["fieldViolations"][0]["field"] == "attributes.team"


def test_text_that_may_span_lines_keeps_tabs_and_newlines(service: Service, admin_key: str, user: Any) -> None:
    done = service.call("UpdateUser", update(user.id, user_pb2.User(
        address=user_pb2.Address(formatted="1 rue X\r\n75001 Paris"), attributes={"note": "a\tb\nc"}),
        "address.formatted", "attributes.note"), admin_key)
    assert done.address.formatted == "1 rue X\r\n75001 Paris" and done.attributes["note"] == "a\tb\nc"
    err = service.error("UpdateUser", update(user.id, user_pb2.User(display_name="two\nlines"), "display_name"),
                        admin_key)
    assert (err.code, err.fields) == (INVALID, ["display_name"])


@pytest.mark.parametrize("bad_id", ["usr_\x00", "\x00", "usr_a\x07b"])
def test_an_id_with_a_control_character_is_not_found_on_every_route(service: Service, admin_key: str,
                                                                      bad_id: str) -> None:
    calls: list[tuple[str, Any]] = [
        ("GetUser", user_service_pb2.GetUserRequest(id=bad_id)),
        ("UpdateUser", update(bad_id, user_pb2.User(display_name="x"), "display_name")),
        ("DeleteUser", user_service_pb2.DeleteUserRequest(id=bad_id)),
        ("UndeleteUser", user_service_pb2.UndeleteUserRequest(id=bad_id)),
        ("ChangePassword", user_service_pb2.ChangePasswordRequest(id=bad_id, current_password="Sufficient-Pass-1",
                                                                  new_password="Another-Pass-22")),
        ("ListUserChanges", user_service_pb2.ListUserChangesRequest(id=bad_id)),
    ]
    for method, request in calls:
        err = service.error(method, request, admin_key)
        assert (method, err.code, err.reason) == (method, NOT_FOUND, "USER_NOT_FOUND")
    quoted = urllib.parse.quote(bad_id, safe="")
    for method, path, body in [("GET", f"/v1/users/{quoted}", None),
                               ("PATCH", f"/v1/users/{quoted}?updateMask=displayName", {"displayName": "x"}),
                               ("DELETE", f"/v1/users/{quoted}", None), ("POST", f"/v1/users/{quoted}:undelete", {}),
                               ("GET", f"/v1/users/{quoted}/changes", None)]:
        reply = service.rest(method, path, body, key=admin_key)
        assert (path, reply.status, reply.json["code"]) == (path, 404, NOT_FOUND.value[0])


@pytest.mark.parametrize("bad_id", ["usr_\x00", "1\x00"])
def test_an_id_or_name_with_a_control_character_on_the_seed_routes_is_their_not_found(
        service: Service, admin_key: str, user: Any, bad_id: str) -> None:
    quoted = urllib.parse.quote(bad_id, safe="")
    userdocks = {"x-api-key": admin_key, "x-api-key-type": "write", "x-client-id": "acme"}
    rocketchat = {"x-auth-token": admin_key, "x-user-id": user.id}
    replies = {
        "pm": service.rest("PUT", f"/users/{quoted}", {"firstName": "x"}, key=admin_key),
        "userdocks": service.rest("PUT", f"/v1/users/{quoted}", {"user": {"nickname": "x"}}, headers=userdocks),
        "userkit read": service.rest("GET", f"/compat/userkit/v1/users/{quoted}", key=admin_key),
        "userkit update": service.rest("POST", f"/v1/users/{quoted}", {"name": "x"}, key=admin_key),
        "rocketchat update": service.rest("POST", "/api/v1/users.update", {"userId": bad_id, "data": {"name": "x"}},
                                          headers=rocketchat),
        "rocketchat by id": service.rest("GET", f"/api/v1/users.info?userId={quoted}", headers=rocketchat),
        "rocketchat by name": service.rest("GET", f"/api/v1/users.info?username={quoted}", headers=rocketchat),
        "syncano": service.rest("GET", f"/v1.1/instances/acme/users/{quoted}/",
                                headers={"authorization": f"token {admin_key}"}),
    }
    statuses = {name: reply.status for name, reply in replies.items()}
    # UserKit answers every request error with 400 (its client knows no 404: docs/compat.md); the rest 404.
    assert statuses == {name: 400 if name.startswith(("userkit", "rocketchat")) else 404 for name in replies}
    for reply in replies.values():
        assert not LEAKS.search(reply.text)


def test_filters_and_login_names_with_control_characters_are_invalid_argument(service: Service,
                                                                               admin_key: str) -> None:
    for text in ['username = "a\x00"', 'external_id = "x\x00y"', 'email = "a\x01@example.com"']:
        err = service.error("ListUsers", user_service_pb2.ListUsersRequest(filter=text), admin_key)
        assert (err.code, err.fields) == (INVALID, ["filter"])
        reply = service.rest("GET", "/v1/users?filter=" + urllib.parse.quote(text), key=admin_key)
        assert reply.status == 400
    for login in ({"username": "a\x00"}, {"email": "a\x00@example.com"}):
        err = service.error("VerifyPassword", user_service_pb2.VerifyPasswordRequest(password="Sufficient-Pass-1",
                                                                                     **login), admin_key)
        assert (err.code, err.fields) == (INVALID, list(login))


def token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("raw", [b'{"s": Infinity, "f": "0123456789abcdef"}', b'{"s": 1e400, "f": "0123456789abcdef"}',
                                 b'{"s": NaN, "f": "0123456789abcdef"}', b"[" * 1000 + b"]" * 1000,
                                 b'{"s": ' + b"9" * 5000 + b', "f": "0123456789abcdef"}', b'{"s": -1, "f": "x"}',
                                 b'{"s": 18446744073709551616, "f": "0123456789abcdef"}', b'{"s": true, "f": 1}'])
def test_a_forged_page_token_is_invalid_argument(service: Service, admin_key: str, user: Any, raw: bytes) -> None:
    err = service.error("ListUsers", user_service_pb2.ListUsersRequest(page_token=token(raw)), admin_key)
    assert (err.code, err.fields) == (INVALID, ["page_token"])
    err = service.error("ListUserChanges", user_service_pb2.ListUserChangesRequest(id=user.id, page_token=token(raw)),
                        admin_key)
    assert (err.code, err.fields) == (INVALID, ["page_token"])
    reply = service.rest("GET", "/v1/users?pageToken=" + urllib.parse.quote(token(raw)), key=admin_key)
    assert reply.status in (400, 431) and reply.json["code"] in (3, 8)


def test_a_page_token_issued_by_the_service_still_pages(service: Service, admin_key: str) -> None:
    for _ in range(3):
        service.create(admin_key)
    first = service.call("ListUsers", user_service_pb2.ListUsersRequest(page_size=2), admin_key)
    assert first.next_page_token
    second = service.call("ListUsers", user_service_pb2.ListUsersRequest(page_size=2,
                                                                         page_token=first.next_page_token), admin_key)
    assert {u.id for u in first.users}.isdisjoint(u.id for u in second.users)


def test_a_native_grpc_call_over_1_mib_through_envoy_is_resource_exhausted(service: Service, admin_key: str,
                                                                           user: Any) -> None:
    channel = grpc.insecure_channel(f"{service.host}:{service.http_port}",
                                    options=[("grpc.max_send_message_length", 8 << 20)])
    try:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        request = update(user.id, user_pb2.User(attributes={"a": "y" * (1 << 20)}), "attributes.a")
        with pytest.raises(grpc.RpcError) as raised:
            stub.UpdateUser(request, metadata=(("authorization", f"Bearer {admin_key}"),), timeout=10)
        err = rpc_error(raised.value)
        assert err.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "1 MiB" in err.message and not err.message.startswith("{")
    finally:
        channel.close()
    assert service.get_user(admin_key, user.id).etag == user.etag


@pytest.mark.parametrize("length", [8_500, 12_000, 16_500, 40_000, 70_000])
def test_a_url_over_8_kib_is_431_with_a_clear_message(service: Service, admin_key: str, length: int) -> None:
    reply = service.rest("GET", "/v1/users?filter=" + "a" * length, key=admin_key)
    assert reply.status == 431
    body = reply.json
    assert body["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0] and "8 KiB" in body["message"]
    assert not any(word in reply.text for word in ("x-envoy", "metadata", "soft limit", "hard limit"))


def test_a_url_under_the_limit_reaches_the_service(service: Service, admin_key: str) -> None:
    reply = service.rest("GET", "/v1/users?filter=" + urllib.parse.quote(f'username = "{"a" * 7_000}"'),
                         key=admin_key)
    assert reply.status == 200 and json.loads(reply.text)["users"] == []


def test_a_basic_credential_holding_a_control_character_is_an_invalid_key(service: Service) -> None:
    for secret in ("api:usk_\x00_x", "api:usk_a\x00b_secret", "api:\x00"):
        header = "Basic " + base64.b64encode(secret.encode()).decode()
        reply = service.rest("GET", "/v1/users", headers={"authorization": header})
        assert reply.status == 401 and reply.json["details"][0]["reason"] in ("INVALID_API_KEY", "MISSING_API_KEY")
        err = service.error("ListUsers", user_service_pb2.ListUsersRequest(), None,
                            metadata=(("authorization", header),))
        assert err.code == grpc.StatusCode.UNAUTHENTICATED
