"""The writer process (service/writer.py): writes run there, it is replaced if it dies, it never
outlives the server, and ``--no-writer-process`` keeps everything in one process.

Each test runs its own server on a SQLite file; the first two also on a fresh PostgreSQL database (in the
PostgreSQL pass), where the writer runs its commands on threads of its own.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2, user_service_pb2

from tests.support import Service, children, command, fresh_postgres, gone, rpc_error

pytestmark = [pytest.mark.process, pytest.mark.timeout(90)]


def rename(user_id: str, name: str) -> user_service_pb2.UpdateUserRequest:
    return user_service_pb2.UpdateUserRequest(user=user_pb2.User(id=user_id, display_name=name),
                                              update_mask=field_mask_pb2.FieldMask(paths=["display_name"]))


def writers(svc: Service) -> list[int]:
    return [c for c in children(svc.process.pid) if "service.writer" in command(c)]


def wait_until(condition: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def update_rows(svc: Service, user_id: str) -> int:
    return int(svc.sql("SELECT count(*) FROM user_changes WHERE user_id = ? AND method = 'UpdateUser'",
                       (user_id,))[0][0])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres_only)])
def database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (a SQLite file in the test's directory), or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
    else:
        with fresh_postgres("userservice_writer") as url:
            yield url


def test_writes_run_in_one_writer_process_child_of_the_server(tmp_path: Path, database: str | None) -> None:
    svc = Service(tmp_path, database, envoy=False)
    try:
        assert len(writers(svc)) == 1
        key = svc.key()
        user = svc.create(key, display_name="before")
        reply, metadata = svc.call_with_metadata("UpdateUser", rename(user.id, "after"), key)
        assert reply.display_name == "after" and reply.etag != user.etag and "etag" not in metadata
        assert svc.get_user(key, user.id).display_name == "after"  # read by the server, written by the writer
    finally:
        svc.stop()


def test_a_killed_writer_is_replaced_and_every_acknowledged_write_is_kept(tmp_path: Path,
                                                                          database: str | None) -> None:
    svc = Service(tmp_path, database, envoy=False)
    try:
        key = svc.key()
        user = svc.create(key, display_name="start")
        [first] = writers(svc)
        codes: list[grpc.StatusCode] = []
        stop = threading.Event()

        def hammer(worker: int) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    svc.call("UpdateUser", rename(user.id, f"w{worker}-{i}"), key)
                    codes.append(grpc.StatusCode.OK)
                except grpc.RpcError as err:
                    codes.append(rpc_error(err).code)
        threads = [threading.Thread(target=hammer, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        os.kill(first, signal.SIGKILL)  # with calls in flight
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(30)
        ok, unavailable = codes.count(grpc.StatusCode.OK), codes.count(grpc.StatusCode.UNAVAILABLE)
        assert ok + unavailable == len(codes), set(codes)  # nothing but OK, or UNAVAILABLE to retry
        assert wait_until(lambda: gone(first))
        # A new writer took over: calls after the kill succeeded, and the next one does too.
        assert svc.call("UpdateUser", rename(user.id, "end"), key).display_name == "end"
        [second] = writers(svc)
        assert second != first
        # Every acknowledged write is in the audit log; a call that got UNAVAILABLE may or may not be.
        assert ok + 1 <= update_rows(svc, user.id) <= ok + 1 + unavailable
        assert svc.get_user(key, user.id).display_name == "end"
    finally:
        svc.stop()


def test_the_writer_does_not_outlive_a_killed_server(tmp_path: Path) -> None:
    svc = Service(tmp_path, envoy=False)
    [writer] = writers(svc)
    svc.stop(signal.SIGKILL)
    assert wait_until(lambda: gone(writer)), "the writer process outlived its server"


def test_the_writer_stops_with_its_server_not_on_signals_meant_for_the_group(tmp_path: Path) -> None:
    svc = Service(tmp_path, envoy=False)
    [writer] = writers(svc)
    try:
        key = svc.key()
        user = svc.create(key)
        # Ctrl-C or a service manager signals every process of the group: the server drains its calls,
        # and they still need the writer.
        os.kill(writer, signal.SIGTERM)
        os.kill(writer, signal.SIGINT)
        time.sleep(0.3)
        assert not gone(writer)
        assert svc.call("UpdateUser", rename(user.id, "still written"), key).display_name == "still written"
    finally:
        assert svc.stop() == 0
    assert gone(writer)


def test_no_writer_process_serves_and_writes_from_one_process(tmp_path: Path) -> None:
    svc = Service(tmp_path, envoy=False, extra=["--no-writer-process"])
    try:
        assert writers(svc) == []
        key = svc.key()
        user = svc.create(key, display_name="before", password="Sufficient-Pass-1")
        assert svc.call("UpdateUser", rename(user.id, "after"), key).display_name == "after"
        err = svc.error("UpdateUser", user_service_pb2.UpdateUserRequest(
            user=user_pb2.User(id=user.id, email="not-an-email"),
            update_mask=field_mask_pb2.FieldMask(paths=["email"])), key)
        assert err.code == grpc.StatusCode.INVALID_ARGUMENT and err.fields == ["email"]
        assert update_rows(svc, user.id) == 1
    finally:
        svc.stop()
