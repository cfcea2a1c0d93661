"""PostgreSQL specifics: a lost connection is UNAVAILABLE with nothing half written, and the next call reconnects;
a row lock held elsewhere holds only the calls for that row.

Runs in the PostgreSQL pass of `make test` (.ci/run always runs it); the rest of the suite runs on both databases.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import psycopg2
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from grpc_health.v1 import health_pb2, health_pb2_grpc
from userservice.v1 import user_pb2
from userservice.v1 import user_service_pb2 as api

from tests.support import Service, fresh_postgres, unique

pytestmark = [pytest.mark.process, pytest.mark.postgres_only]


@pytest.fixture
def pg_service(tmp_path: Path) -> Iterator[Service]:
    with fresh_postgres("userservice_conn") as url:
        svc = Service(tmp_path, url, envoy=False)
        try:
            yield svc
        finally:
            svc.stop()


def terminate_service_connections(database: str) -> int:
    """What a PostgreSQL restart or failover does to the service: its server connections are cut."""
    name = database.rsplit("/", 1)[1]
    with psycopg2.connect(database.rsplit("/", 1)[0] + "/postgres") as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                        " AND pid <> pg_backend_pid()", (name,))
            killed = cur.rowcount
    conn.close()
    return killed


def test_lost_connection_is_unavailable_then_the_next_call_reconnects(pg_service: Service) -> None:
    key = pg_service.key()  # (this test process's own connection is cut too; Store reconnects it)
    made = pg_service.create(key)
    assert terminate_service_connections(pg_service.database) >= 1
    name = unique("after")
    request = api.UpdateUserRequest(user=user_pb2.User(id=made.id, username=name))
    lost = pg_service.error("UpdateUser", request, key)
    assert lost.code == grpc.StatusCode.UNAVAILABLE and lost.reason == "DATABASE_UNAVAILABLE"
    assert "psycopg" not in lost.message and "terminat" not in lost.message
    assert pg_service.get_user(key, made.id).username == made.username
    assert pg_service.call("UpdateUser", request, key).username == name


def test_write_cut_off_before_commit_writes_nothing(pg_service: Service) -> None:
    key = pg_service.key()
    made = pg_service.create(key, display_name="Kept")
    # Hold the user's row lock from outside, so the service's write waits inside its transaction; cut it there.
    with psycopg2.connect(pg_service.database) as holder:
        with holder.cursor() as cur:
            cur.execute("SELECT id FROM users WHERE id = %s FOR UPDATE", (made.id,))
            import threading

            cut = threading.Timer(0.5, lambda: _terminate_others(pg_service.database, holder))
            cut.start()
            lost = pg_service.error("UpdateUser", api.UpdateUserRequest(
                user=user_pb2.User(id=made.id, display_name="Half", nickname="half")), key)
            cut.join()
        holder.rollback()
    holder.close()
    assert lost.code == grpc.StatusCode.UNAVAILABLE
    after = pg_service.get_user(key, made.id)
    assert after.display_name == "Kept" and not after.nickname and after.etag == made.etag
    changes = pg_service.call("ListUserChanges", api.ListUserChangesRequest(id=made.id), key)
    assert [c.method for c in changes.changes] == ["CreateUser"]


def _terminate_others(database: str, keep: object) -> None:
    name = database.rsplit("/", 1)[1]
    keep_pid = keep.get_backend_pid()  # type: ignore[attr-defined]
    with psycopg2.connect(database.rsplit("/", 1)[0] + "/postgres") as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                        " AND pid <> pg_backend_pid() AND pid <> %s AND application_name = ''", (name, keep_pid))
    conn.close()


def _timed(calls: list[Callable[[], object]], rounds: int) -> list[float]:
    """Seconds each call took, ``rounds`` times through ``calls``, one after another."""
    took = []
    for _ in range(rounds):
        for call in calls:
            began = time.perf_counter()
            call()
            took.append(time.perf_counter() - began)
    return sorted(took)


def test_a_row_locked_elsewhere_holds_only_its_own_calls(pg_service: Service) -> None:
    """While another connection holds one user's row lock for 2 s, the replica keeps answering the rest."""
    key = pg_service.key()
    locked = pg_service.create(key)
    others = [pg_service.create(key) for _ in range(6)]
    health = health_pb2_grpc.HealthStub(pg_service.channel)

    def update(user: user_pb2.User) -> Callable[[], object]:
        return lambda: pg_service.call("UpdateUser", api.UpdateUserRequest(
            user=user_pb2.User(id=user.id, display_name=unique("n")),
            update_mask=FieldMask(paths=["display_name"])), key)

    calls: list[Callable[[], object]] = [update(u) for u in others]
    calls += [lambda: pg_service.get_user(key, others[0].id),
              lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=10)]
    usual = _timed(calls, 8)  # also warms every connection of the pool
    with psycopg2.connect(pg_service.database) as holder, holder.cursor() as cur:
        cur.execute("SELECT id FROM users WHERE id = %s FOR UPDATE", (locked.id,))
        held = time.monotonic()
        with ThreadPoolExecutor(3) as waiting:  # three calls for the locked user, all waiting on its lock
            blocked = [waiting.submit(update(locked)) for _ in range(3)]
            time.sleep(0.2)
            during = _timed(calls, 8)
            answered_while_held = time.monotonic() - held
            assert not any(f.done() for f in blocked)
            time.sleep(max(0.0, 2.0 - (time.monotonic() - held)))
            holder.rollback()
            for f in blocked:  # each then runs, after the lock is released (lock_timeout is 5 s)
                assert f.result(timeout=20).id == locked.id
    holder.close()
    assert answered_while_held < 2.0
    p99 = lambda xs: xs[min(len(xs) - 1, int(len(xs) * 0.99))]  # noqa: E731
    assert p99(during) <= 2 * p99(usual) + 0.02, (p99(usual), p99(during))


@pytest.mark.parametrize("options", ["max_connections=2", "max_connections=2&prepared_statements=false"])
def test_a_write_refused_on_its_first_run_leaves_the_connection_writing(tmp_path: Path, options: str) -> None:
    """The store's statements are prepared per connection, the first time in the message of their first run
    (docs/scaling.md, "Prepared statements"). A write refused in that message still leaves the connection usable for
    the same statement; ``max_connections=2``: one database thread, so both calls use one connection."""
    with fresh_postgres("userservice_prepared") as url:
        svc = Service(tmp_path, f"{url}?{options}", envoy=False)
        try:
            key = svc.key()
            taken, made = svc.create(key, email=f"{unique('taken')}@example.com"), svc.create(key)
            mask = FieldMask(paths=["email"])
            refused = svc.error("UpdateUser", api.UpdateUserRequest(
                user=user_pb2.User(id=made.id, email=taken.email), update_mask=mask), key)
            assert refused.code == grpc.StatusCode.ALREADY_EXISTS
            assert refused.fields == ["email"]
            email = f"{unique('free')}@example.com"
            written = svc.call("UpdateUser", api.UpdateUserRequest(
                user=user_pb2.User(id=made.id, email=email), update_mask=mask), key)
            assert written.email == email
            assert svc.get_user(key, made.id).email == email
        finally:
            svc.stop()
