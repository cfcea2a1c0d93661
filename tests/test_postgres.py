"""PostgreSQL specifics: a lost connection is UNAVAILABLE with nothing half written, and the next call reconnects.

Runs in the PostgreSQL pass of `make test` (.ci/run always runs it); the rest of the suite runs on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import psycopg2
import pytest
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
