"""kill -9 of the server in the middle of acknowledged writes: SQLite (WAL, synchronous=NORMAL) keeps them all.

About SQLite on purpose: it constructs its own server over a file it can check with ``sqlite3``.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2, user_service_pb2

from tests.reliability.helpers import figure
from tests.support import Service, unique

pytestmark = [pytest.mark.process, pytest.mark.timeout(120)]
ROUNDS, UPDATERS = 5, 4


def integrity(path: Path) -> str:
    with closing(sqlite3.connect(path)) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def test_kill_9_during_writes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(9)
    svc = Service(tmp_path, envoy=False)
    try:
        key = svc.key()
        users = [svc.create(key).id for _ in range(UPDATERS)]
        acked = dict.fromkeys(users, -1)  # the last value of attributes.n the server acknowledged
        created: list[str] = []  # users whose creation was acknowledged
        total = 0
        for _round in range(ROUNDS):
            stop = threading.Event()
            current = svc

            def updater(user_id: str, service: Service = current, stop: threading.Event = stop) -> None:
                n = acked[user_id]
                mask = field_mask_pb2.FieldMask(paths=["attributes.n", "display_name"])
                while not stop.is_set():
                    n += 1
                    request = user_service_pb2.UpdateUserRequest(
                        user=user_pb2.User(id=user_id, attributes={"n": str(n)}, display_name=f"n{n}"),
                        update_mask=mask)
                    try:
                        service.call("UpdateUser", request, key, timeout=5)
                    except (grpc.RpcError, ValueError):  # the server died, or the channel closed
                        return
                    acked[user_id] = n

            def creator(service: Service = current, stop: threading.Event = stop) -> None:
                while not stop.is_set():
                    try:
                        user = service.create(key, username=unique("crash"))
                    except (grpc.RpcError, ValueError):
                        return
                    created.append(user.id)

            threads = [threading.Thread(target=updater, args=(u,)) for u in users]
            threads.append(threading.Thread(target=creator))
            before = sum(acked.values()) + len(created)
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.3, 0.8))
            assert svc.stop(signal.SIGKILL) == -signal.SIGKILL
            stop.set()
            for t in threads:
                t.join(10)
                assert not t.is_alive()
            total += sum(acked.values()) + len(created) - before
            assert integrity(tmp_path / "users.db") == "ok"
            svc = Service(tmp_path, envoy=False)  # restart on the same file
            for user_id, n in acked.items():
                now = svc.get_user(key, user_id)
                # The acknowledged write is there; the one in flight at the kill is all there or absent.
                assert int(now.attributes["n"]) in (n, n + 1)
                assert now.display_name == f"n{now.attributes['n']}"
            for user_id in created:
                svc.get_user(key, user_id)
        figure("kill_9", kills=ROUNDS, acknowledged_writes=total, lost=0, integrity="ok")
    finally:
        svc.stop()
