"""Password guessing through the real doors: failures counted per user in the database, a tarpit, a lockout
that ends by itself, one answer while locked, audit records, UnlockUser, and the tenant's policy set by the
CLI (docs/api.md, "Password guessing")."""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import grpc
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2
from userservice.v1 import user_service_pb2 as api

from tests.support import BIN, Reply, Service, unique

User = user_pb2.User
PASSWORD = "Guessing-test-pass-1"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "userservice"), *args], capture_output=True, text=True, timeout=60)


def tenant_with(service: Service, **settings: int) -> str:
    """A new tenant with these settings (through `userservice tenants set-policy`); returns an admin key."""
    tenant = unique("tenant")
    key = service.key("admin", tenant=tenant)
    args = [f"--{name.replace('_', '-')}={value}" for name, value in settings.items()]
    done = cli("tenants", "set-policy", "--database", service.database, "--tenant", tenant, *args)
    assert done.returncode == 0, done.stderr
    return key


def login(service: Service, key: str, username: str, password: str) -> Reply:
    return service.rest("POST", "/v1/users:verifyPassword", {"username": username, "password": password}, key=key)


def reason(reply: Reply) -> str | None:
    for detail in reply.json.get("details", []):
        if detail.get("@type", "").endswith("ErrorInfo"):
            return str(detail["reason"])
    return None


def test_failures_lock_the_user_out_until_the_lockout_ends_by_itself(service: Service) -> None:
    key = tenant_with(service, failure_factor=3, wait_increment_s=2, delay_increment_ms=0)
    me = service.create(key, password=PASSWORD)
    assert [login(service, key, me.username, "Wrong-guess-123").status for _ in range(3)] == [401, 401, 401]
    right = login(service, key, me.username, PASSWORD)
    wrong = login(service, key, me.username, "Wrong-guess-123")
    assert (right.status, reason(right)) == (403, "TOO_MANY_FAILED_LOGINS"), right.text
    assert (wrong.status, reason(wrong), wrong.json["message"]) == (right.status, reason(right),
                                                                    right.json["message"])
    locked = service.get_user(key, me.id)
    assert locked.failed_login_count == 3 and locked.HasField("lockout_end_time")
    time.sleep(max(0.0, locked.lockout_end_time.ToMicroseconds() / 1e6 - time.time()) + 0.2)
    after = login(service, key, me.username, PASSWORD)
    assert after.status == 200, after.text
    assert after.json["user"]["failedLoginCount"] == 0 and "lockoutEndTime" not in after.json["user"]


def test_a_lockout_is_in_the_audit_trail_and_an_admin_unlock_ends_it(service: Service) -> None:
    key = tenant_with(service, failure_factor=2, wait_increment_s=600, delay_increment_ms=0)
    me = service.create(key, password=PASSWORD)
    for _ in range(2):
        login(service, key, me.username, "Wrong-guess-123")
    assert login(service, key, me.username, PASSWORD).status == 403
    unlocked = service.rest("POST", f"/v1/users/{me.id}:unlock", {}, key=key)
    assert unlocked.status == 200, unlocked.text
    assert unlocked.json["failedLoginCount"] == 0 and "lockoutEndTime" not in unlocked.json
    assert login(service, key, me.username, PASSWORD).status == 200
    changes = service.call("ListUserChanges", api.ListUserChangesRequest(id=me.id), key).changes
    audited = [(c.method, list(c.paths)) for c in changes]
    lockouts = [paths for method, paths in audited if method == "VerifyPassword"]
    assert lockouts == [["failed_login_count", "lockout_end_time", "last_failed_login_time"]], audited
    assert audited[-1] == ("UnlockUser", ["failed_login_count", "lockout_end_time"]), audited


def test_unlock_needs_an_admin_and_also_ends_the_locked_state(service: Service, admin_key: str) -> None:
    me = service.create(admin_key, password=PASSWORD, state=User.LOCKED)
    reader = service.key("reader", tenant="acme")
    refused = service.rest("POST", f"/v1/users/{me.id}:unlock", {}, key=reader)
    assert refused.status == 403
    unlocked = service.rest("POST", f"/v1/users/{me.id}:unlock", {}, key=admin_key)
    assert unlocked.status == 200 and unlocked.json["state"] == "ACTIVE"
    again = service.rest("POST", f"/v1/users/{me.id}:unlock", {}, key=admin_key)
    assert again.status == 200 and again.json["etag"] == unlocked.json["etag"], "nothing left to unlock"


def test_a_locked_user_gets_one_answer_whatever_the_password(service: Service, admin_key: str) -> None:
    me = service.create(admin_key, password=PASSWORD, state=User.LOCKED)
    answers = [login(service, admin_key, me.username, password) for password in (PASSWORD, "Wrong-guess-123")]
    assert {(a.status, reason(a), a.json["message"]) for a in answers} == {(403, "USER_LOCKED", "the user is locked")}
    after = service.get_user(admin_key, me.id)
    assert not after.HasField("last_failed_login_time") and after.failed_login_count == 0, "nothing counted"


def test_the_tarpit_delays_attempts_after_a_few_failures_without_blocking_others(service: Service) -> None:
    key = tenant_with(service, failure_factor=10, delay_after=1, delay_increment_ms=700, max_delay_ms=1400)
    me = service.create(key, password=PASSWORD)
    other = service.create(key)
    took = []
    for _ in range(3):
        start = time.monotonic()
        login(service, key, me.username, "Wrong-guess-123")
        took.append(time.monotonic() - start)
    assert took[0] < 0.6 and took[1] >= 0.7 and took[2] >= 1.4, took
    reads: list[float] = []

    def read_meanwhile() -> None:
        time.sleep(0.2)
        start = time.monotonic()
        service.get_user(key, other.id)
        reads.append(time.monotonic() - start)

    reader = threading.Thread(target=read_meanwhile)
    reader.start()
    start = time.monotonic()
    right = login(service, key, me.username, PASSWORD)  # the delay applies to the right password too
    reader.join(10)
    assert right.status == 200 and time.monotonic() - start >= 1.4
    assert reads and reads[0] < 0.5, f"a read waited for the tarpit: {reads}"


def test_a_success_resets_the_count(service: Service) -> None:
    key = tenant_with(service, failure_factor=3, delay_increment_ms=0)
    me = service.create(key, password=PASSWORD)
    for _ in range(2):
        login(service, key, me.username, "Wrong-guess-123")
    assert service.get_user(key, me.id).failed_login_count == 2
    assert login(service, key, me.username, PASSWORD).status == 200
    assert [login(service, key, me.username, "Wrong-guess-123").status for _ in range(2)] == [401, 401]
    assert login(service, key, me.username, PASSWORD).status == 200, "two failures after a success do not lock"


def test_tenants_set_policy_and_show(service: Service) -> None:
    tenant = unique("tenant")
    service.key("admin", tenant=tenant)
    base = ("--database", service.database, "--tenant", tenant)
    shown = cli("tenants", "show", *base)
    assert shown.returncode == 0 and "failure_factor 10" in shown.stdout.splitlines()
    too_many = cli("tenants", "set-policy", *base, "--failure-factor", "101")
    assert too_many.returncode == 2 and "failure_factor" in too_many.stderr
    assert cli("tenants", "set-policy", *base, "--failure-factor", "100").returncode == 0
    assert "failure_factor 100" in cli("tenants", "show", *base).stdout.splitlines()
    assert cli("tenants", "set-policy", *base, "--failure-factor", "default").returncode == 0
    assert "failure_factor 10" in cli("tenants", "show", *base).stdout.splitlines()
    assert cli("tenants", "show", "--database", service.database, "--tenant", unique()).returncode == 1


def test_a_password_over_4096_bytes_is_a_clean_400_naming_the_field(service: Service, admin_key: str) -> None:
    long = "x" * 4097
    unknown = login(service, admin_key, unique(), long)
    assert unknown.status == 400 and "password" in unknown.text, unknown.text
    me = service.create(admin_key, password=PASSWORD)
    mine = service.key("user", tenant="acme", user=me.id)
    change = service.rest("POST", f"/v1/users/{me.id}:changePassword",
                          {"currentPassword": long, "newPassword": "Another-test-pass-2"}, key=mine)
    assert change.status == 400, change.text
    assert [v["field"] for v in change.json["details"][0]["fieldViolations"]] == ["current_password"]
    assert service.get_user(admin_key, me.id).failed_login_count == 0


def test_common_passwords_are_refused_for_new_passwords(service: Service, admin_key: str) -> None:
    created = service.rest("POST", "/v1/users", {"username": unique(), "password": "Password1"}, key=admin_key)
    assert created.status == 400, created.text
    assert [v["field"] for v in created.json["details"][0]["fieldViolations"]] == ["password"]
    me = service.create(admin_key, password=PASSWORD)
    mine = service.key("user", tenant="acme", user=me.id)
    change = service.rest("POST", f"/v1/users/{me.id}:changePassword",
                          {"currentPassword": PASSWORD, "newPassword": "qwertyuiop"}, key=mine)
    assert change.status == 400 and [v["field"] for v in change.json["details"][0]["fieldViolations"]] == [
        "new_password"]
    update = service.rest("PATCH", f"/v1/users/{me.id}?updateMask=password", {"password": "iloveyou"},
                          key=admin_key)
    assert update.status == 400 and "password" in update.text


def test_password_min_length_can_be_raised(tmp_path: Any) -> None:
    svc = Service(tmp_path / "minimum", envoy=False, extra=["--password-min-length", "15"])
    try:
        key = svc.key("admin")
        err = svc.error("CreateUser", api.CreateUserRequest(user=User(username=unique(), password="Twelve-chars")),
                        key)
        assert err.code == grpc.StatusCode.INVALID_ARGUMENT and err.fields == ["password"]
        assert svc.create(key, password="Fifteen-chars-1").id
    finally:
        svc.stop()


def test_state_locked_through_update_is_refused_before_any_count(service: Service, admin_key: str) -> None:
    me = service.create(admin_key, password=PASSWORD)
    service.call("UpdateUser", api.UpdateUserRequest(user=User(id=me.id, state=User.LOCKED),
                                                     update_mask=field_mask_pb2.FieldMask(paths=["state"])), admin_key)
    for password in (PASSWORD, "Wrong-guess-123"):
        assert reason(login(service, admin_key, me.username, password)) == "USER_LOCKED"
    assert service.get_user(admin_key, me.id).failed_login_count == 0
