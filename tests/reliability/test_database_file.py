"""The SQLite file itself: created owner-only, a warning when others may read it, and clear errors when it is
deleted, replaced or read-only under the running service.

About SQLite on purpose: each test runs its own server over its own file.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from userservice.v1 import user_pb2, user_service_pb2

from service import processes
from tests.support import BIN, ROOT, Service, free_port, unique

pytestmark = [pytest.mark.process, pytest.mark.timeout(60)]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_its_wal_and_its_directory_are_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data" / "more"
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = processes.spawn_owned([str(BIN / "userservice"), "serve", "--no-envoy", "--grpc-port", str(port),
                                         "--database", f"sqlite:///{data}/users.db"], stdout=out,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while b"userservice: gRPC on" not in log.read_bytes():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        files = {p.name: mode(p) for p in data.iterdir()}
        assert files["users.db"] == 0o600 and files["users.db-wal"] == 0o600, files
        assert all(m == 0o600 for m in files.values()), files
        assert mode(data) == 0o700 and mode(data.parent) == 0o700
        assert "group or others may read it" not in log.read_text()
    finally:
        assert processes.stop(process, 20) == 0


def test_an_existing_database_open_to_others_is_warned_about_at_start(tmp_path: Path) -> None:
    first = Service(tmp_path, envoy=False)
    first.stop()
    (tmp_path / "users.db").chmod(0o644)
    svc = Service(tmp_path, envoy=False)
    try:
        warnings = [line for line in svc.logs().splitlines() if "group or others may read it" in line]
        assert len(warnings) == 1 and "users.db (-rw-r--r--)" in warnings[0] and '"level": "warning"' in warnings[0]
    finally:
        svc.stop()


def health(svc: Service) -> int:
    reply = health_pb2_grpc.HealthStub(svc.channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    return int(reply.status)


def rename(user_id: str) -> user_service_pb2.UpdateUserRequest:
    from google.protobuf import field_mask_pb2

    return user_service_pb2.UpdateUserRequest(user=user_pb2.User(id=user_id, display_name="after"),
                                              update_mask=field_mask_pb2.FieldMask(paths=["display_name"]))


@pytest.mark.parametrize("writer", ["writer process", "no writer process"])
@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_database_file_deleted_or_replaced_under_the_service_stops_writes_and_health(tmp_path: Path, how: str,
                                                                                      writer: str) -> None:
    svc = Service(tmp_path, extra=[] if writer == "writer process" else ["--no-writer-process"])
    try:
        key = svc.key()
        user = svc.create(key, display_name="before")
        assert health(svc) == health_pb2.HealthCheckResponse.SERVING
        db = tmp_path / "users.db"
        if how == "deleted":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        else:  # a restore copied over it: another file (inode) at the same path
            shutil.copy(db, tmp_path / "restored.db")
            os.replace(tmp_path / "restored.db", db)
        deadline = time.monotonic() + 5
        while health(svc) != health_pb2.HealthCheckResponse.NOT_SERVING:
            assert time.monotonic() < deadline, "health still SERVING"
            time.sleep(0.1)
        time.sleep(1.0)  # the process that writes checks on its own timer (every 0.5 s)
        for attempt in (lambda: svc.call("UpdateUser", rename(user.id), key),
                        lambda: svc.create(key, username=unique())):
            with pytest.raises(grpc.RpcError) as raised:
                attempt()
            err = raised.value
            assert err.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
            assert svc.error("UpdateUser", rename(user.id), key).reason == "DATABASE_REPLACED"
        reply = svc.rest("PATCH", f"/v1/users/{user.id}?updateMask=displayName", {"displayName": "x"}, key=key)
        assert reply.status == 503 and reply.json["details"][0]["reason"] == "DATABASE_REPLACED"
    finally:
        svc.stop(signal.SIGTERM)


def make_read_only(path: Path) -> None:
    """Read-only even for root: the immutable attribute (chmod does not stop root)."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a file read-only for root here: {done.stderr.strip()}")


def make_writable(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], check=False)
    path.chmod(0o600)


def test_a_read_only_database_is_failed_precondition_database_read_only(tmp_path: Path) -> None:
    first = Service(tmp_path, envoy=False)
    key = first.key()
    user = first.create(key, display_name="before")
    first.stop()
    db = tmp_path / "users.db"
    make_read_only(db)
    try:
        svc = Service(tmp_path)
        try:
            err = svc.error("UpdateUser", rename(user.id), key)
            assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "DATABASE_READ_ONLY")
            created = svc.error("CreateUser", user_service_pb2.CreateUserRequest(
                user=user_pb2.User(username=unique())), key)
            assert (created.code, created.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "DATABASE_READ_ONLY")
            reply = svc.rest("POST", "/v1/users", {"username": unique()}, key=key)
            assert reply.status == 400 and reply.json["details"][0]["reason"] == "DATABASE_READ_ONLY"
            assert svc.get_user(key, user.id).display_name == "before"  # reads go on
        finally:
            svc.stop()
    finally:
        make_writable(db)
