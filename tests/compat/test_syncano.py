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
    number = out["id"]
    assert isinstance(number, int) and number > 0 and out["username"] == name
    assert out["links"]["self"] == f"/v1.1/instances/acme/users/{number}/"
    profile = out["profile"]
    assert profile["owner"] == number and profile["updated_at"].endswith("Z") and profile["owner_permissions"] == "full"
    assert profile["links"]["owner"] == f"/v1.1/instances/acme/users/{number}/"
    assert profile["group"] is None and profile["channel"] is None
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
    for number in ("999999", "0", "99999999999999999999"):
        unknown = call(service, "PATCH", "acme", number, {"username": unique()}, **{"X-API-KEY": admin_key})
        assert unknown.status == 404 and unknown.json == {"detail": "Not found"}


def test_bad_and_missing_keys(service: Service, user: Any) -> None:
    bad = call(service, "PATCH", "acme", user.id, {"username": unique()}, **{"X-API-KEY": "usk_bad_key"})
    assert bad.status == 403 and bad.json == {"detail": "No such API Key."}
    missing = call(service, "PATCH", "acme", user.id, {"username": unique()})
    assert missing.status == 401 and list(missing.json) == ["detail"]


def test_user_key_renames_itself_and_sets_its_password_as_documented(service: Service, admin_key: str,
                                                                     user: Any) -> None:
    own = service.key("user", tenant="acme", user=user.id)
    name = unique("self")
    reply = call(service, "PATCH", "acme", user.id, {"username": name},
                 **{"X-API-KEY": admin_key, "X-USER-KEY": own})
    assert reply.status == 200 and reply.json["username"] == name
    number = reply.json["id"]
    put = call(service, "PUT", "acme", str(number), {"username": name, "password": "Some-Long-Pass-2"},
               **{"X-API-KEY": admin_key, "X-USER-KEY": own})
    assert put.status == 200, put.text
    ok = service.call("VerifyPassword", user_service_pb2.VerifyPasswordRequest(
        username=name, password="Some-Long-Pass-2"), admin_key)
    assert ok.user.id == user.id
    changes = service.call("ListUserChanges", user_service_pb2.ListUserChangesRequest(id=user.id), admin_key)
    last = changes.changes[-1]
    assert last.method == "SyncanoReplaceUser" and "password" in last.paths
    assert last.key_id == own.split("_")[1]  # audited as the user's own key
    other = service.create(admin_key)
    assert call(service, "PATCH", "acme", other.id, {"username": unique()},
                **{"X-API-KEY": admin_key, "X-USER-KEY": own}).status == 403
    other_password = call(service, "PATCH", "acme", other.id, {"password": "Other-Long-Pass-3"},
                          **{"X-API-KEY": admin_key, "X-USER-KEY": own})
    assert other_password.status == 403 and list(other_password.json) == ["detail"]


def test_numbers_are_stable_per_user_and_count_per_instance(service: Service, admin_key: str, user: Any) -> None:
    first = call(service, "GET", "acme", user.id, None, **{"X-API-KEY": admin_key})
    assert first.status == 200, first.text
    number = first.json["id"]
    again = call(service, "GET", "acme", str(number), None, **{"X-API-KEY": admin_key})
    assert again.status == 200 and again.json["id"] == number and again.json["username"] == user.username
    fresh_tenant = unique("inst")
    key = service.key("admin", tenant=fresh_tenant)
    someone = service.create(key)
    theirs = call(service, "GET", fresh_tenant, someone.id, None, **{"X-API-KEY": key})
    assert theirs.json["id"] == 1  # a new instance starts at 1: no hint of other instances' sizes
    assert call(service, "GET", "acme", str(number), None, **{"X-API-KEY": key}).json == {"detail": "Not found"}


def test_user_profile_class_and_token_authorization(service: Service, admin_key: str) -> None:
    reply = service.rest("GET", "/v1.1/instances/acme/classes/user_profile/",
                         headers={"authorization": f"token {admin_key}"})
    assert reply.status == 200, reply.text
    assert reply.json["name"] == "user_profile" and reply.json["schema"] == []
    other = service.rest("GET", "/v1.1/instances/acme/classes/books/", headers={"X-API-KEY": admin_key})
    assert other.status == 404 and other.json == {"detail": "Not found"}


def test_numbers_drawn_at_once_are_distinct_and_gapless(service: Service) -> None:
    from concurrent.futures import ThreadPoolExecutor

    tenant = unique("race")
    key = service.key("admin", tenant=tenant)
    users = [service.create(key) for _ in range(6)]

    def number(user_id: str) -> int:
        reply = call(service, "GET", tenant, user_id, None, **{"X-API-KEY": key})
        assert reply.status == 200, reply.text
        return int(reply.json["id"])

    with ThreadPoolExecutor(max_workers=6) as pool:
        same = list(pool.map(number, [users[0].id] * 6))  # six calls racing to number one user
        drawn = list(pool.map(number, [u.id for u in users]))
    assert same == [1] * 6
    assert sorted(drawn) == [1, 2, 3, 4, 5, 6] and drawn[0] == 1
    assert [number(u.id) for u in users] == drawn  # stable
