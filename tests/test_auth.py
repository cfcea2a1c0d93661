"""Credentials, tenants and field-level authorization (CONTRACT section 6), through real doors."""

from __future__ import annotations

import subprocess
import time

import grpc
import pytest
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2
from userservice.v1 import user_service_pb2 as api

from service.auth import split_key
from service.passwords import make_context
from tests.support import BIN, Service, basic, unique

pytestmark = pytest.mark.process

User = user_pb2.User
CARRIERS = {
    "bearer": lambda k: ("authorization", f"Bearer {k}"),
    "basic": lambda k: ("authorization", basic(k)),
    "x-api-key": lambda k: ("x-api-key", k),
    "x-auth-token": lambda k: ("x-auth-token", k),
    "x-user-key": lambda k: ("x-user-key", k),
}


@pytest.mark.parametrize("carrier", sorted(CARRIERS))
def test_each_carrier_works_over_rest_and_grpc(service: Service, admin_key: str, carrier: str) -> None:
    u = service.create(admin_key)
    name, value = CARRIERS[carrier](admin_key)
    reply = service.rest("GET", f"/v1/users/{u.id}", headers={name: value})
    assert reply.status == 200, reply.text
    got = service.call("GetUser", api.GetUserRequest(id=u.id), None, metadata=((name, value),))
    assert got.id == u.id


def test_missing_or_made_up_keys_are_401(service: Service, admin_key: str) -> None:
    assert service.rest("GET", "/v1/users").status == 401
    fake = admin_key[:-4] + "AAAA"
    assert service.rest("GET", "/v1/users", key=fake).status == 401
    assert service.rest("GET", "/v1/users", key="usk_nope_nope").status == 401
    assert service.rest("GET", "/v1/users", headers={"authorization": "Token abc"}).status == 401
    err = service.error("ListUsers", api.ListUsersRequest(), None)
    assert err.code == grpc.StatusCode.UNAUTHENTICATED and err.reason == "MISSING_API_KEY"
    err = service.error("ListUsers", api.ListUsersRequest(), fake)
    assert err.code == grpc.StatusCode.UNAUTHENTICATED and err.reason == "INVALID_API_KEY"


def test_revoked_key_is_refused_within_two_seconds(service: Service) -> None:
    key = service.key("admin", tenant="acme")
    assert service.rest("GET", "/v1/users", key=key).status == 200
    out = subprocess.run([str(BIN / "userservice"), "keys", "revoke", key, "--database", service.database],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    time.sleep(2.0)
    assert service.rest("GET", "/v1/users", key=key).status == 401


def test_another_tenants_user_does_not_exist(service: Service, admin_key: str) -> None:
    u = service.create(admin_key)
    other = service.key("admin", tenant=unique("other"))
    assert service.rest("GET", f"/v1/users/{u.id}", key=other).status == 404
    assert service.rest("PATCH", f"/v1/users/{u.id}?updateMask=nickname", {"nickname": "x"}, key=other).status == 404
    assert service.rest("DELETE", f"/v1/users/{u.id}", key=other).status == 404
    assert service.rest("GET", f"/v1/users/{u.id}/changes", key=other).status == 404
    assert u.id not in service.rest("GET", "/v1/users?pageSize=1000", key=other).text
    err = service.error("UpdateUser", api.UpdateUserRequest(user=User(id=u.id, nickname="x")), other)
    assert err.code == grpc.StatusCode.NOT_FOUND


def test_reader_reads_but_cannot_write(service: Service, admin_key: str) -> None:
    u = service.create(admin_key)
    reader = service.key("reader", tenant="acme")
    assert service.rest("GET", f"/v1/users/{u.id}", key=reader).status == 200
    assert service.rest("GET", "/v1/users", key=reader).status == 200
    assert service.rest("PATCH", f"/v1/users/{u.id}?updateMask=nickname", {"nickname": "x"}, key=reader).status == 403
    assert service.rest("POST", "/v1/users", {"username": unique()}, key=reader).status == 403
    assert service.rest("DELETE", f"/v1/users/{u.id}", key=reader).status == 403


def test_user_key_updates_its_own_profile_only(service: Service, admin_key: str) -> None:
    me, other = service.create(admin_key), service.create(admin_key)
    mine = service.key("user", tenant="acme", user=me.id)
    ok = service.rest("PATCH", f"/v1/users/{me.id}?updateMask=nickname,attributes.theme",
                      {"nickname": "me", "attributes": {"theme": "dark"}}, key=mine)
    assert ok.status == 200, ok.text
    assert ok.json["nickname"] == "me" and ok.json["attributes"] == {"theme": "dark"}
    assert service.rest("GET", f"/v1/users/{me.id}", key=mine).status == 200
    assert service.rest("GET", f"/v1/users/{other.id}", key=mine).status == 403
    assert service.rest("PATCH", f"/v1/users/{other.id}?updateMask=nickname", {"nickname": "x"}, key=mine).status == 403
    assert service.rest("GET", "/v1/users", key=mine).status == 403


def test_user_key_is_refused_admin_only_fields_naming_them(service: Service, admin_key: str) -> None:
    me = service.create(admin_key)
    mine = service.key("user", tenant="acme", user=me.id)
    request = api.UpdateUserRequest(user=User(id=me.id, roles=["admin"], email_verified=True, nickname="x"),
                                    update_mask=field_mask_pb2.FieldMask(paths=["roles", "email_verified", "nickname"]))
    err = service.error("UpdateUser", request, mine)
    assert err.code == grpc.StatusCode.PERMISSION_DENIED
    assert err.metadata["paths"] == "email_verified,roles"
    assert service.get_user(admin_key, me.id).nickname == ""


def test_user_key_cannot_set_its_password_through_update(service: Service, admin_key: str) -> None:
    me = service.create(admin_key, password="Original-pass-1")
    mine = service.key("user", tenant="acme", user=me.id)
    reply = service.rest("PATCH", f"/v1/users/{me.id}?updateMask=password", {"password": "Another-pass-2"}, key=mine)
    assert reply.status == 403
    star = service.rest("PATCH", f"/v1/users/{me.id}?updateMask=*",
                        {"username": me.username, "password": "Another-pass-2"}, key=mine)
    assert star.status == 403


def test_change_password_needs_the_current_one(service: Service, admin_key: str) -> None:
    me = service.create(admin_key, password="Original-pass-1", require_password_change=True)
    mine = service.key("user", tenant="acme", user=me.id)
    wrong = service.rest("POST", f"/v1/users/{me.id}:changePassword",
                         {"currentPassword": "nope-nope-nope", "newPassword": "Brand-new-pass-2"}, key=mine)
    assert wrong.status == 400 and "current_password" in wrong.text
    right = service.rest("POST", f"/v1/users/{me.id}:changePassword",
                         {"currentPassword": "Original-pass-1", "newPassword": "Brand-new-pass-2"}, key=mine)
    assert right.status == 200, right.text
    assert right.json["requirePasswordChange"] is False
    verify = {"username": me.username}
    old = service.rest("POST", "/v1/users:verifyPassword", {**verify, "password": "Original-pass-1"}, key=admin_key)
    new = service.rest("POST", "/v1/users:verifyPassword", {**verify, "password": "Brand-new-pass-2"}, key=admin_key)
    assert old.status == 401 and new.status == 200
    assert new.json["user"]["id"] == me.id and "lastLoginTime" in new.json["user"]


def test_verify_password_same_answer_for_unknown_user_and_wrong_password(service: Service, admin_key: str) -> None:
    me = service.create(admin_key, password="Original-pass-1")
    unknown = service.error("VerifyPassword", api.VerifyPasswordRequest(username=unique(), password="x" * 10),
                            admin_key)
    wrong = service.error("VerifyPassword", api.VerifyPasswordRequest(username=me.username, password="x" * 10),
                          admin_key)
    assert (unknown.code, unknown.reason, unknown.message) == (wrong.code, wrong.reason, wrong.message)
    assert wrong.code == grpc.StatusCode.UNAUTHENTICATED and wrong.reason == "INVALID_CREDENTIALS"
    after = service.get_user(admin_key, me.id)
    assert after.HasField("last_failed_login_time")


def test_verify_password_by_email_and_locked_or_deleted_users(service: Service, admin_key: str) -> None:
    email = f"{unique()}@Example.com"
    me = service.create(admin_key, email=email, password="Original-pass-1")
    ok = service.call("VerifyPassword", api.VerifyPasswordRequest(email=email.upper(), password="Original-pass-1"),
                      admin_key)
    assert ok.user.id == me.id
    service.call("UpdateUser", api.UpdateUserRequest(user=User(id=me.id, state=User.LOCKED),
                                                     update_mask=field_mask_pb2.FieldMask(paths=["state"])), admin_key)
    locked = service.error("VerifyPassword", api.VerifyPasswordRequest(email=email, password="Original-pass-1"),
                           admin_key)
    assert locked.code == grpc.StatusCode.PERMISSION_DENIED and locked.reason == "USER_LOCKED"
    after = service.get_user(admin_key, me.id)
    assert after.last_login_time == ok.user.last_login_time, "a refused login is not recorded as one"
    service.call("DeleteUser", api.DeleteUserRequest(id=me.id), admin_key)
    deleted = service.error("VerifyPassword", api.VerifyPasswordRequest(email=email, password="Original-pass-1"),
                            admin_key)
    assert deleted.code == grpc.StatusCode.UNAUTHENTICATED


def test_weaker_hash_is_rehashed_on_successful_verify(service: Service, admin_key: str) -> None:
    me = service.create(admin_key)
    weak = make_context(memory_kib=8192, rounds=1).hash("Weakly-hashed-1")
    service.sql("UPDATE users SET password_hash = ? WHERE id = ?", (weak, me.id))
    service.call("VerifyPassword", api.VerifyPasswordRequest(username=me.username, password="Weakly-hashed-1"),
                 admin_key)
    [(stored,)] = service.sql("SELECT password_hash FROM users WHERE id = ?", (me.id,))
    assert stored != weak and "m=19456,t=2,p=1" in stored


def test_no_key_or_password_in_database_wal_or_logs(service: Service, admin_key: str) -> None:
    password = "Greppable-" + unique()
    me = service.create(admin_key, password=password)
    user_key = service.key("user", tenant="acme", user=me.id)
    service.rest("POST", f"/v1/users/{me.id}:changePassword",
                 {"currentPassword": password, "newPassword": password + "-2"}, key=user_key)
    service.rest("POST", "/v1/users:verifyPassword", {"username": me.username, "password": password + "-2"},
                 key=admin_key)
    secrets = [password.encode(), (password + "-2").encode(), user_key.encode(), admin_key.encode(),
               *(split_key(k)[1].encode() for k in (user_key, admin_key))]  # type: ignore[index]
    stored = {**service.stored_bytes(), "serve.log": service.logs().encode()}
    assert len(stored) >= 2
    for name, data in stored.items():
        for s in secrets:
            assert s not in data, f"{s!r} found in {name}"
