"""`userservice serve --metrics-port`: Prometheus metrics move with the calls, from every process.

The gRPC call metrics carry go-grpc-prometheus's names and labels; the database and hashing figures
come from the process that does the work (on SQLite, the writer process); Envoy's own stats are served
by the same endpoint; with ``--replicas``, every replica has an endpoint of its own. docs/api.md lists
every metric.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from userservice.v1 import user_pb2, user_service_pb2_grpc
from userservice.v1 import user_service_pb2 as api

from tests.support import BIN, ROOT, Service, children, command, free_port, fresh_database, fresh_postgres, unique

pytestmark = [pytest.mark.process, pytest.mark.timeout(120)]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
USER_SERVICE = "userservice.v1.UserService"


def scrape(port: int, host: str = "127.0.0.1") -> Samples:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as reply:
        assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = reply.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 when there is none)."""
    want = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and want <= have)


def call(method: str, code: str) -> dict[str, str]:
    return {"grpc_type": "unary", "grpc_service": USER_SERVICE, "grpc_method": method, "grpc_code": code}


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, int]]:
    workdir = tmp_path_factory.mktemp("metrics")
    port = free_port()
    with fresh_database(workdir) as database:
        svc = Service(workdir, database, extra=["--metrics-port", str(port)])
        try:
            yield svc, port
        finally:
            svc.stop()


def test_grpc_calls_move_started_handled_and_handling_seconds_by_method_and_code(
        metered: tuple[Service, int]) -> None:
    svc, port = metered
    key = svc.key()
    before = scrape(port)
    user = svc.create(key)
    assert svc.error("GetUser", api.GetUserRequest(id="usr_nobody"), key).code is grpc.StatusCode.NOT_FOUND
    bad = svc.rest("PATCH", f"/v1/users/{user.id}?updateMask=email", {"email": "not-an-email"}, key=key)
    assert bad.status == 400
    after = scrape(port)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    create = {"grpc_type": "unary", "grpc_service": USER_SERVICE, "grpc_method": "CreateUser"}
    assert moved("grpc_server_started_total", **create) == 1
    assert moved("grpc_server_handled_total", **call("CreateUser", "OK")) == 1
    assert moved("grpc_server_handling_seconds_count", **create) == 1
    assert moved("grpc_server_handling_seconds_bucket", le="+Inf", **create) == 1
    assert moved("grpc_server_handling_seconds_sum", **create) > 0
    assert moved("grpc_server_handled_total", **call("GetUser", "NotFound")) == 1
    assert moved("grpc_server_handled_total", **call("UpdateUser", "InvalidArgument")) == 1  # through Envoy


def test_writes_move_transaction_and_password_figures_of_the_process_that_writes(
        metered: tuple[Service, int]) -> None:
    """On SQLite the writer process runs the transaction and the hash: its figures reach the server's endpoint."""
    svc, port = metered
    key = svc.key()
    before = scrape(port)
    svc.create(key, username=unique(), password="correct horse battery staple")
    after = scrape(port)
    assert value(after, "userservice_db_transaction_seconds_count") - value(
        before, "userservice_db_transaction_seconds_count") == 1
    seconds = "userservice_db_transaction_seconds_sum"
    assert value(after, seconds) > value(before, seconds)
    for name in ("userservice_db_transaction_retries_total", "userservice_password_hash_rejections_total",
                 "userservice_writer_restarts_total", "userservice_password_hash_queue_depth"):
        assert (name, frozenset()) in after, name
    assert value(after, "userservice_password_hash_queue_depth") == 0  # the hash is done


@pytest.mark.postgres_only
def test_every_update_of_an_unlocked_user_is_counted_in_a_postgresql_group_commit(
        metered: tuple[Service, int]) -> None:
    svc, port = metered
    key = svc.key()
    users = [svc.create(key) for _ in range(12)]
    before = scrape(port)
    md = (("authorization", f"Bearer {key}"),)
    calls = [svc.stub.UpdateUser.future(api.UpdateUserRequest(user=user_pb2.User(id=u.id, display_name="Grouped")),
                                        metadata=md, timeout=30) for u in users]
    assert all(c.result().display_name == "Grouped" for c in calls)
    after = scrape(port)
    moved = {name: value(after, f"userservice_db_group_commands_{name}") - value(
        before, f"userservice_db_group_commands_{name}") for name in ("sum", "count")}
    assert moved["sum"] == len(users)  # each update committed by a group, none left alone
    assert 1 <= moved["count"] <= len(users)


def test_a_full_hashing_queue_shows_in_its_depth_and_its_rejections(metered: tuple[Service, int]) -> None:
    """More password calls at once than the pool queues (64): the extra ones are refused, and counted."""
    svc, port = metered
    key = svc.key()
    before = scrape(port)
    md = (("authorization", f"Bearer {key}"),)
    calls = [svc.stub.CreateUser.future(api.CreateUserRequest(user=user_pb2.User(
        username=unique(), password="correct horse battery staple")), metadata=md, timeout=60) for _ in range(80)]
    depths = []
    while not all(c.done() for c in calls):
        depths.append(value(scrape(port), "userservice_password_hash_queue_depth"))
    codes = [c.code() for c in calls]
    refused = codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert refused > 0 and codes.count(grpc.StatusCode.OK) == len(codes) - refused
    after = scrape(port)
    name = "userservice_password_hash_rejections_total"
    assert value(after, name) - value(before, name) == refused
    assert max(depths) > 1
    assert value(after, "userservice_password_hash_queue_depth") == 0


def test_envoy_status_codes_and_upstream_latency_are_served_on_the_same_endpoint(
        metered: tuple[Service, int]) -> None:
    svc, port = metered
    key = svc.key()
    user = svc.create(key)
    before = scrape(port)
    assert svc.rest("GET", f"/v1/users/{user.id}", key=key).status == 200
    assert svc.rest("GET", "/v1/users/usr_nobody", key=key).status == 404
    assert svc.rest("GET", "/no/such/route").status == 404

    def moved(name: str, **labels: str) -> float:
        return value(scrape(port), name, **labels) - value(before, name, **labels)

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        assert b"\nenvoy_http_downstream_rq_xx{" in reply.read()  # Envoy's own names, unchanged
    manager = {"envoy_http_conn_manager_prefix": "userservice"}
    # prometheus-client's parser names a counter's samples <name>_total.
    assert moved("envoy_http_downstream_rq_xx_total", envoy_response_code_class="2", **manager) >= 1
    assert moved("envoy_http_downstream_rq_xx_total", envoy_response_code_class="4", **manager) >= 2
    # Envoy merges its histograms every few seconds (its stats flush interval).
    assert eventually(lambda: moved("envoy_cluster_upstream_rq_time_count", envoy_cluster_name="userservice_grpc") >= 2)


def test_a_restarted_writer_process_is_counted(tmp_path: Path) -> None:
    """SQLite on purpose (the writer process is SQLite's)."""
    port = free_port()
    svc = Service(tmp_path, envoy=False, extra=["--metrics-port", str(port)])
    try:
        key = svc.key()
        svc.create(key)
        writers = [c for c in children(svc.process.pid) if "service.writer" in command(c)]
        assert len(writers) == 1
        os.kill(writers[0], signal.SIGKILL)

        def replaced() -> bool:
            try:
                svc.create(key)
            except grpc.RpcError as err:
                assert err.code() is grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
                return False
            return True

        assert eventually(replaced)
        assert value(scrape(port), "userservice_writer_restarts_total") == 1
    finally:
        svc.stop()


@pytest.mark.postgres_only
def test_each_replica_serves_its_own_metrics_and_the_parent_serves_envoys(tmp_path: Path) -> None:
    with fresh_postgres("userservice_metrics") as url:
        http_port = free_port()
        log_path = tmp_path / "replicas.log"
        with open(log_path, "wb") as log:
            group = subprocess.Popen(
                [str(BIN / "userservice"), "serve", "--replicas", "2", "--database", url, "--grpc-port", "0",
                 "--http-port", str(http_port), "--metrics-port", "0", "--grace", "5"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
        try:
            assert eventually(lambda: "replicas' on" in log_path.read_text(), 60), log_path.read_text()
            line = next(x for x in log_path.read_text().splitlines() if "replicas' on" in x)
            grpc_ports = [int(a.rsplit(":", 1)[1]) for a in
                          line.removeprefix("userservice: gRPC on ").split(" (", 1)[0].split(", ")]
            parent = int(line.split(", metrics on ", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])
            replicas = [int(a.rsplit(":", 1)[1]) for a in line.split("replicas' on ", 1)[1].split(", ")]
            assert len(replicas) == 2 and parent not in replicas
            key = subprocess.run([str(BIN / "userservice"), "keys", "create", "--database", url, "--tenant", "acme",
                                  "--role", "admin"], capture_output=True, text=True, check=True,
                                 timeout=60).stdout.strip().splitlines()[-1]
            for _ in range(3):  # replica 0 only, straight to its gRPC port
                with grpc.insecure_channel(f"127.0.0.1:{grpc_ports[0]}") as channel:
                    user_service_pb2_grpc.UserServiceStub(channel).ListUsers(
                        api.ListUsersRequest(), metadata=(("authorization", f"Bearer {key}"),), timeout=10)
            lists = call("ListUsers", "OK")
            assert value(scrape(replicas[0]), "grpc_server_handled_total", **lists) == 3
            assert value(scrape(replicas[1]), "grpc_server_handled_total", **lists) == 0
            assert ("userservice_replica_restarts_total", frozenset()) in scrape(parent)
            assert any(name.startswith("envoy_") for name, _ in scrape(parent))
        finally:
            group.send_signal(signal.SIGTERM)
            group.wait(30)

