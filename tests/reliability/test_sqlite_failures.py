"""A database locked past the busy timeout, and a full disk: clear errors, no half write, recovery by itself.

About SQLite on purpose: each test runs its own server over a file it locks or fills with ``sqlite3``.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2, user_service_pb2

from tests.reliability.helpers import changes, figure
from tests.support import Service, rpc_error, unique

pytestmark = [pytest.mark.process, pytest.mark.timeout(60)]
BUSY_MS = 200


def rename(user_id: str, name: str) -> user_service_pb2.UpdateUserRequest:
    return user_service_pb2.UpdateUserRequest(user=user_pb2.User(id=user_id, display_name=name),
                                              update_mask=field_mask_pb2.FieldMask(paths=["display_name"]))


def test_a_lock_held_past_the_busy_timeout_is_unavailable_then_recovers(tmp_path: Path) -> None:
    svc = Service(tmp_path, envoy=True, extra=["--busy-timeout-ms", str(BUSY_MS)])
    try:
        key = svc.key()
        user = svc.create(key, display_name="before")
        with closing(sqlite3.connect(tmp_path / "users.db", isolation_level=None)) as other:
            other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
            start = time.perf_counter()
            err = svc.error("UpdateUser", rename(user.id, "during"), key)
            waited_ms = (time.perf_counter() - start) * 1000
            assert (err.code, err.reason) == (grpc.StatusCode.UNAVAILABLE, "DATABASE_BUSY")
            assert waited_ms >= BUSY_MS * 0.9
            rest = svc.rest("PATCH", f"/v1/users/{user.id}?updateMask=displayName", {"displayName": "during"},
                            key=key)
            assert rest.status == 503 and rest.json["code"] == grpc.StatusCode.UNAVAILABLE.value[0]
            created = svc.error("CreateUser", user_service_pb2.CreateUserRequest(
                user=user_pb2.User(username=unique())), key)
            assert created.code == grpc.StatusCode.UNAVAILABLE
            # Reads go on while the lock is held (WAL).
            assert svc.get_user(key, user.id).display_name == "before"
            other.execute("ROLLBACK")
        # The lock is gone: the same server writes again, with no restart.
        assert svc.call("UpdateUser", rename(user.id, "after"), key).display_name == "after"
        assert [c.method for c in changes(svc, key, user.id)] == ["CreateUser", "UpdateUser"]
        figure("locked_database", busy_timeout_ms=BUSY_MS, waited_ms=round(waited_ms), code="UNAVAILABLE",
               recovered=True)
    finally:
        svc.stop()


def page_count(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("PRAGMA page_count").fetchone()[0])


def test_a_full_disk_is_resource_exhausted_writes_nothing_and_recovers(tmp_path: Path) -> None:
    db_path = tmp_path / "users.db"
    setup = Service(tmp_path, envoy=False)  # creates the schema and a key
    key = setup.key()
    setup.stop()
    with closing(sqlite3.connect(db_path)) as db:  # ballast an operator can delete to free space
        db.execute("CREATE TABLE ballast (data BLOB)")
        db.execute("INSERT INTO ballast VALUES (zeroblob(800000))")
        db.commit()
    limit = page_count(db_path) + 100  # about 400 KiB of room for the server
    svc = Service(tmp_path, envoy=True, extra=["--sqlite-max-page-count", str(limit)])
    try:
        user = svc.create(key, display_name="before")
        big = {f"k{i}": "x" * 2000 for i in range(40)}  # about 80 KiB of attributes
        created = 0
        failure = None
        for _ in range(20):
            try:
                svc.create(key, attributes=big)
                created += 1
            except grpc.RpcError as err:
                failure = rpc_error(err)
                break
        assert failure is not None, "the capped database never filled"
        assert (failure.code, failure.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "DISK_FULL")
        # Full: an update is refused whole (no row change, no audit record), reads go on.
        name = unique("full")
        err = svc.error("UpdateUser", user_service_pb2.UpdateUserRequest(
            user=user_pb2.User(id=user.id, display_name="during", attributes=big)), key)
        assert err.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        rest = svc.rest("POST", "/v1/users", {"username": name, "attributes": big}, key=key)
        assert rest.status == 429 and rest.json["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
        assert "sqlite" not in rest.text.lower() and str(tmp_path) not in rest.text
        after = svc.get_user(key, user.id)
        assert (after.display_name, after.etag, dict(after.attributes)) == ("before", user.etag, {})
        assert [c.method for c in changes(svc, key, user.id)] == ["CreateUser"]
        with closing(sqlite3.connect(db_path)) as db:
            assert db.execute("SELECT count(*) FROM users WHERE username = ?", (name,)).fetchone()[0] == 0
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            db.execute("DELETE FROM ballast")  # space is freed
            db.commit()
        # The same server writes again, with no restart.
        done = svc.call("UpdateUser", user_service_pb2.UpdateUserRequest(
            user=user_pb2.User(id=user.id, display_name="after", attributes=big)), key)
        assert done.display_name == "after" and dict(done.attributes) == big
        figure("full_disk", page_limit=limit, creates_before_full=created, code="RESOURCE_EXHAUSTED",
               half_writes=0, recovered=True)
    finally:
        svc.stop()
