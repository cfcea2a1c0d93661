"""Syncano v1.1's users update (seed 003) through the real Envoy: PUT/PATCH, trailing slash, X-API-KEY."""

from __future__ import annotations

from typing import Any

from userservice.v1 import user_service_pb2

from tests.support import Service, unique


def call(service: Service, method: str, instance: str, user_id: str, body: Any, **headers: str):
    return service.rest(method, f"/v1.1/instances/{instance}/users/{user_id}/", body, headers=headers)


def test_documented_put_with_trailing_slash(service: Service, admin_key: str, user: Any) -> None:
    name = unique("geralt")
    reply = call(service, "PUT", "acme", user.id, {"username": name, "password": "Roach-and-Plotka-1"},
                 **{"X-API-KEY": admin_key})
    assert reply.status == 200, reply.text
    out = reply.json
    assert set(out) == {"id", "username", "profile", "links", "groups"} and out["groups"] == []
    assert out["id"] == user.id and out["username"] == name
    assert out["links"]["self"] == f"/v1.1/instances/acme/users/{user.id}/"
    assert out["profile"]["owner"] == user.id and out["profile"]["updated_at"]
    assert "password" not in out and "user_key" not in out
    assert service.get_user(admin_key, user.id).username == name
    ok = service.call("VerifyPassword", user_service_pb2.VerifyPasswordRequest(
        username=name, password="Roach-and-Plotka-1"), admin_key)
    assert ok.user.id == user.id


def test_without_trailing_slash_too(service: Service, admin_key: str, user: Any) -> None:
    reply = service.rest("PATCH", f"/v1.1/instances/acme/users/{user.id}", {"username": unique("ciri")},
                         headers={"X-API-KEY": admin_key})
    assert reply.status == 200, reply.text


def test_put_needs_both_fields(service: Service, admin_key: str, user: Any) -> None:
    reply = call(service, "PUT", "acme", user.id, {"username": unique()}, **{"X-API-KEY": admin_key})
    assert reply.status == 400 and reply.json == {"password": ["This field is required."]}
    both = call(service, "PUT", "acme", user.id, {}, **{"X-API-KEY": admin_key})
    assert both.status == 400 and both.json == {"username": ["This field is required."],
                                               "password": ["This field is required."]}
    blank = call(service, "PUT", "acme", user.id, {"username": "", "password": "Long-Enough-1"},
                 **{"X-API-KEY": admin_key})
    assert blank.status == 400 and blank.json == {"username": ["This field may not be blank."]}
    assert service.get_user(admin_key, user.id).username == user.username


def test_patch_is_partial(service: Service, admin_key: str, user: Any) -> None:
    name = unique("yen")
    reply = call(service, "PATCH", "acme", user.id, {"username": name}, **{"X-API-KEY": admin_key})
    assert reply.status == 200 and reply.json["username"] == name
    got = service.get_user(admin_key, user.id)
    assert got.username == name and got.email == user.email


def test_canonical_rules_as_field_errors(service: Service, admin_key: str, user: Any) -> None:
    bad = call(service, "PATCH", "acme", user.id, {"username": "no spaces", "password": "short"},
               **{"X-API-KEY": admin_key})
    assert bad.status == 400 and set(bad.json) == {"username", "password"}
    assert all(isinstance(m, list) and m for m in bad.json.values())
    other = service.create(admin_key)
    taken = call(service, "PATCH", "acme", user.id, {"username": other.username}, **{"X-API-KEY": admin_key})
    assert taken.status == 400 and list(taken.json) == ["username"]


def test_other_instance_and_unknown_user_are_not_found(service: Service, admin_key: str, user: Any) -> None:
    wrong = call(service, "PATCH", "rivia", user.id, {"username": unique()}, **{"X-API-KEY": admin_key})
    assert wrong.status == 404 and wrong.json == {"detail": "Not found"}
    gone = call(service, "PATCH", "acme", "usr_nobody00000", {"username": unique()}, **{"X-API-KEY": admin_key})
    assert gone.status == 404 and gone.json == {"detail": "Not found"}


def test_bad_and_missing_keys(service: Service, user: Any) -> None:
    bad = call(service, "PATCH", "acme", user.id, {"username": unique()}, **{"X-API-KEY": "usk_bad_key"})
    assert bad.status == 403 and bad.json == {"detail": "No such API Key."}
    missing = call(service, "PATCH", "acme", user.id, {"username": unique()})
    assert missing.status == 401 and list(missing.json) == ["detail"]


def test_user_key_renames_itself_but_password_needs_change_password(service: Service, admin_key: str,
                                                                     user: Any) -> None:
    own = service.key("user", tenant="acme", user=user.id)
    name = unique("self")
    reply = call(service, "PATCH", "acme", user.id, {"username": name},
                 **{"X-API-KEY": admin_key, "X-USER-KEY": own})
    assert reply.status == 200 and reply.json["username"] == name
    put = call(service, "PUT", "acme", user.id, {"username": name, "password": "Some-Long-Pass-2"},
               **{"X-API-KEY": admin_key, "X-USER-KEY": own})
    assert put.status == 403 and list(put.json) == ["detail"]
    other = service.create(admin_key)
    assert call(service, "PATCH", "acme", other.id, {"username": unique()},
                **{"X-API-KEY": admin_key, "X-USER-KEY": own}).status == 403
