"""`userservice serve --replicas N`: several server processes on one PostgreSQL database behind one Envoy.

The replica tests need PostgreSQL, so they run in the PostgreSQL pass of `make test` (which `.ci/run`
always runs); in the SQLite pass they are deselected, and the refusal of replicas on SQLite is tested instead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2, user_service_pb2_grpc
from userservice.v1 import user_service_pb2 as api

from service import processes
from service.logs import ACCESS_FLUSH_S
from tests.support import BIN, ROOT, free_port, fresh_postgres, refused, rpc_error, unique

pytestmark = pytest.mark.process

needs_postgres = pytest.mark.postgres_only


class Replicas:
    """`userservice serve --replicas N` on free ports; ``stop()`` sends SIGTERM and waits."""

    def __init__(self, workdir: Path, database: str, count: int = 2, listen: str = "127.0.0.1") -> None:
        self.database = database
        self.host = listen
        self.http_port = free_port()
        self.log_path = workdir / f"replicas-{self.http_port}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = processes.spawn_owned(  # SIGTERM if the test process dies
            [str(BIN / "userservice"), "serve", "--replicas", str(count), "--database", database,
             "--grpc-port", "0", "--http-port", str(self.http_port), "--grace", "5", "--listen", listen],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
        self.ports = self._wait_ready()
        self.channels = [grpc.insecure_channel(f"{listen}:{p}") for p in self.ports]
        self.stubs = [user_service_pb2_grpc.UserServiceStub(c) for c in self.channels]
        self.envoy_channel = grpc.insecure_channel(f"{listen}:{self.http_port}")
        self.envoy = user_service_pb2_grpc.UserServiceStub(self.envoy_channel)
        self.key = self.cli_key()

    def _wait_ready(self, timeout: float = 60.0) -> list[int]:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_path.read_text().splitlines():
                if line.startswith("userservice: gRPC on ") and "replicas" in line:
                    listed = line.removeprefix("userservice: gRPC on ").split(" (", 1)[0]
                    return [int(a.rsplit(":", 1)[1]) for a in listed.split(", ")]
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited {self.process.returncode}:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("replicas did not start in time:\n" + self.log_path.read_text())

    def cli_key(self, tenant: str = "acme") -> str:
        out = subprocess.run([str(BIN / "userservice"), "keys", "create", "--database", self.database,
                              "--tenant", tenant, "--role", "admin"],
                             capture_output=True, text=True, check=True, timeout=60)
        return out.stdout.strip().splitlines()[-1]

    def md(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.key}"),)

    def stop(self, timeout: float = 30.0) -> int:
        for channel in [*getattr(self, "channels", []), *([self.envoy_channel] if hasattr(self, "envoy") else [])]:
            channel.close()
        code = processes.stop(self.process, timeout)
        self._log.close()
        return code


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    with fresh_postgres("userservice_replicas") as url:
        group = Replicas(tmp_path_factory.mktemp("replicas"), url)
        try:
            yield group
        finally:
            assert group.stop() == 0, group.log_path.read_text()


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def create(stub: Any, key_md: Any, **fields: Any) -> user_pb2.User:
    fields.setdefault("username", unique())
    return stub.CreateUser(api.CreateUserRequest(user=user_pb2.User(**fields)), metadata=key_md, timeout=10)


def test_replicas_on_sqlite_are_refused_with_the_reason(tmp_path: Path) -> None:
    out = subprocess.run([str(BIN / "userservice"), "serve", "--replicas", "2", "--database",
                          f"sqlite:///{tmp_path}/users.db", "--grpc-port", "0", "--no-envoy"],
                         capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert out.returncode == 2
    assert "PostgreSQL" in out.stderr and "one writer" in out.stderr
    assert not (tmp_path / "users.db").exists()


@needs_postgres
def test_two_replicas_have_their_own_ports_and_share_one_database(replicas: Replicas) -> None:
    assert len(set(replicas.ports)) == 2
    a, b = replicas.stubs
    made = create(a, replicas.md())
    assert b.GetUser(api.GetUserRequest(id=made.id), metadata=replicas.md(), timeout=10) == made


@needs_postgres
def test_update_through_one_replica_is_read_through_the_other(replicas: Replicas) -> None:
    a, b = replicas.stubs
    made = create(a, replicas.md(), display_name="Before")
    updated = a.UpdateUser(api.UpdateUserRequest(user=user_pb2.User(id=made.id, display_name="After"),
                                                 update_mask=mask("display_name")), metadata=replicas.md(), timeout=10)
    seen = b.GetUser(api.GetUserRequest(id=made.id), metadata=replicas.md(), timeout=10)
    assert seen.display_name == "After" and seen.etag == updated.etag
    # and back: an etag read through one replica guards a write through the other
    b.UpdateUser(api.UpdateUserRequest(user=user_pb2.User(id=made.id, nickname="nick", etag=seen.etag),
                                       update_mask=mask("nickname")), metadata=replicas.md(), timeout=10)
    with pytest.raises(grpc.RpcError) as stale:
        a.UpdateUser(api.UpdateUserRequest(user=user_pb2.User(id=made.id, nickname="other", etag=seen.etag),
                                           update_mask=mask("nickname")), metadata=replicas.md(), timeout=10)
    assert rpc_error(stale.value).code == grpc.StatusCode.ABORTED
    assert a.GetUser(api.GetUserRequest(id=made.id), metadata=replicas.md(), timeout=10).nickname == "nick"


@needs_postgres
def test_eight_clients_over_both_replicas_updating_disjoint_keys_lose_nothing(replicas: Replicas) -> None:
    made = create(replicas.stubs[0], replicas.md())
    rounds, clients = 25, 8
    start = threading.Barrier(clients)
    errors: list[str] = []

    def client(i: int) -> None:
        stub = replicas.stubs[i % 2]  # clients 0, 2, 4, 6 on one replica; 1, 3, 5, 7 on the other
        start.wait()
        for n in range(rounds):
            try:
                stub.UpdateUser(api.UpdateUserRequest(user=user_pb2.User(id=made.id, attributes={f"k{i}": str(n)}),
                                                      update_mask=mask(f"attributes.k{i}")),
                                metadata=replicas.md(), timeout=30)
            except grpc.RpcError as err:
                errors.append(f"client {i} round {n}: {err.code()}")  # type: ignore[attr-defined]

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    assert errors == []
    final = replicas.stubs[1].GetUser(api.GetUserRequest(id=made.id), metadata=replicas.md(), timeout=10)
    assert dict(final.attributes) == {f"k{i}": str(rounds - 1) for i in range(clients)}
    changes = replicas.stubs[0].ListUserChanges(api.ListUserChangesRequest(id=made.id, page_size=1000),
                                                metadata=replicas.md(), timeout=10)
    assert len(changes.changes) == 1 + clients * rounds  # the create and every update, each audited once


@needs_postgres
def test_username_race_across_replicas_has_exactly_one_winner(replicas: Replicas) -> None:
    name = unique("race")
    contenders = 8
    start = threading.Barrier(contenders)

    def attempt(i: int) -> str:
        start.wait()
        try:
            create(replicas.stubs[i % 2], replicas.md(), username=name.upper() if i % 3 else name)
            return "OK"
        except grpc.RpcError as err:
            detail = rpc_error(err)
            return f"{detail.code.name}:{detail.reason}"

    with ThreadPoolExecutor(contenders) as pool:
        outcomes = list(pool.map(attempt, range(contenders)))
    assert sorted(outcomes) == ["ALREADY_EXISTS:USERNAME_TAKEN"] * (contenders - 1) + ["OK"]


@needs_postgres
def test_username_race_over_rest_through_envoy_has_one_200_and_the_rest_409(replicas: Replicas) -> None:
    import http.client

    name = unique("rest")
    contenders = 8
    start = threading.Barrier(contenders)

    def attempt(i: int) -> tuple[int, str]:
        body = json.dumps({"username": name, "email": f"{name}{i}@example.com"})
        conn = http.client.HTTPConnection("127.0.0.1", replicas.http_port, timeout=30)
        try:
            start.wait()
            conn.request("POST", "/v1/users", body=body, headers={"content-type": "application/json",
                                                                   "authorization": f"Bearer {replicas.key}"})
            reply = conn.getresponse()
            data = json.loads(reply.read())
            reasons = [d.get("reason") for d in data.get("details", [])] if reply.status != 200 else []
            return reply.status, ",".join(r for r in reasons if r)
        finally:
            conn.close()

    with ThreadPoolExecutor(contenders) as pool:
        outcomes = list(pool.map(attempt, range(contenders)))
    assert sorted(outcomes) == [(200, "")] + [(409, "USERNAME_TAKEN")] * (contenders - 1)


@needs_postgres
def test_rename_race_across_replicas_has_exactly_one_winner(replicas: Replicas) -> None:
    users = [create(replicas.stubs[i % 2], replicas.md()) for i in range(6)]
    target = unique("rename")
    start = threading.Barrier(len(users))

    def rename(i: int) -> str:
        start.wait()
        try:
            replicas.stubs[i % 2].UpdateUser(
                api.UpdateUserRequest(user=user_pb2.User(id=users[i].id, username=target),
                                      update_mask=mask("username")),
                metadata=replicas.md(), timeout=30)
            return "OK"
        except grpc.RpcError as err:
            detail = rpc_error(err)
            return f"{detail.code.name}:{detail.reason}"

    with ThreadPoolExecutor(len(users)) as pool:
        outcomes = list(pool.map(rename, range(len(users))))
    assert sorted(outcomes) == ["ALREADY_EXISTS:USERNAME_TAKEN"] * (len(users) - 1) + ["OK"]


@needs_postgres
def test_envoy_spreads_calls_over_both_replicas(replicas: Replicas) -> None:
    before = _calls_per_pid(replicas)
    for _ in range(20):
        replicas.envoy.ListUsers(api.ListUsersRequest(page_size=1), metadata=replicas.md(), timeout=10)
    after = _calls_per_pid(replicas)
    grown = [pid for pid, n in after.items() if n > before.get(pid, 0)]
    assert len(grown) == 2, (before, after)


def _calls_per_pid(replicas: Replicas) -> dict[int, int]:
    time.sleep(2 * ACCESS_FLUSH_S)  # access lines are written up to ACCESS_FLUSH_S after their call
    counts: dict[int, int] = {}
    for line in replicas.log_path.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("msg") == "call" and entry.get("method") == "ListUsers" and "pid" in entry:
                counts[entry["pid"]] = counts.get(entry["pid"], 0) + 1
    return counts


@needs_postgres
def test_serialization_failures_are_retried_and_never_lose_or_half_write(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """On a SERIALIZABLE database (as CockroachDB always is) row-lock waits end in SQLSTATE 40001: retried."""
    import psycopg2

    with fresh_postgres("userservice_serializable") as url:
        with psycopg2.connect(url) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"ALTER DATABASE \"{url.rsplit('/', 1)[1]}\" SET default_transaction_isolation"
                            " TO 'serializable'")
        conn.close()
        group = Replicas(tmp_path_factory.mktemp("serializable"), url)
        try:
            made = create(group.stubs[0], group.md())
            rounds, clients = 25, 8
            start = threading.Barrier(clients)
            last_ok: dict[int, int] = {}
            refusals: list[str] = []

            def client(i: int) -> None:
                start.wait()
                for n in range(rounds):
                    try:
                        group.stubs[i % 2].UpdateUser(
                            api.UpdateUserRequest(user=user_pb2.User(id=made.id, attributes={f"k{i}": str(n)}),
                                                  update_mask=mask(f"attributes.k{i}")),
                            metadata=group.md(), timeout=30)
                        last_ok[i] = n
                    except grpc.RpcError as err:
                        detail = rpc_error(err)
                        refusals.append(f"{detail.code.name}:{detail.reason}")

            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(client, range(clients)))
            final = group.stubs[1].GetUser(api.GetUserRequest(id=made.id), metadata=group.md(), timeout=10)
            changes = group.stubs[0].ListUserChanges(api.ListUserChangesRequest(id=made.id, page_size=1000),
                                                     metadata=group.md(), timeout=10)
        finally:
            assert group.stop() == 0
        events = [json.loads(line).get("event") for line in group.log_path.read_text().splitlines()
                  if line.startswith("{")]
    # A refusal is a clean ABORTED the caller may retry; every acknowledged write is kept and audited once.
    assert set(refusals) <= {"ABORTED:TRANSACTION_CONFLICT"}
    assert len(refusals) <= clients * rounds // 20, refusals
    assert dict(final.attributes) == {f"k{i}": str(n) for i, n in last_ok.items()}
    assert len(changes.changes) == 1 + clients * rounds - len(refusals)
    assert events.count("retry") > 0


@needs_postgres
def test_a_replica_that_dies_is_restarted_on_its_port(tmp_path: Path) -> None:
    with fresh_postgres("userservice_restart") as url:
        group = Replicas(tmp_path, url)
        try:
            children = subprocess.run(["pgrep", "-P", str(group.process.pid), "-f", "service.cli serve"],
                                      capture_output=True, text=True).stdout.split()
            assert len(children) == 2, children
            os.kill(int(children[0]), signal.SIGKILL)
            deadline = time.monotonic() + 30
            while "replica_restart" not in group.log_path.read_text():
                assert time.monotonic() < deadline, "no restart logged"
                time.sleep(0.1)
            for port in group.ports:  # both ports answer again: the dead one was restarted on its own port
                with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                    grpc.channel_ready_future(channel).result(timeout=30)
                    stub = user_service_pb2_grpc.UserServiceStub(channel)
                    assert stub.ListUsers(api.ListUsersRequest(), metadata=group.md(), timeout=10) is not None
            for _ in range(6):  # and Envoy reaches both
                group.envoy.ListUsers(api.ListUsersRequest(), metadata=group.md(), timeout=10)
        finally:
            group.stop()


@needs_postgres
def test_replicas_and_their_envoy_listen_on_the_given_address(tmp_path: Path) -> None:
    with fresh_postgres("userservice_listen") as url:
        group = Replicas(tmp_path, url, listen="127.0.0.2")
        try:
            assert f"127.0.0.2:{group.ports[0]}" in group.log_path.read_text()
            for stub in (*group.stubs, group.envoy):  # each replica, and Envoy in front of both
                assert stub.ListUsers(api.ListUsersRequest(), metadata=group.md(), timeout=10) is not None
            assert all(refused("127.0.0.1", port) for port in (*group.ports, group.http_port))
        finally:
            group.stop()
