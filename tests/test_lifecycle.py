"""Running it: migrations at start keep data, SIGTERM drains and stops Envoy too, JSON-lines logs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from tests.support import BIN, ROOT, Service, children, command, gone, refused, unique

pytestmark = pytest.mark.process


def test_sigterm_drains_in_flight_calls_then_stops_envoy_and_server(tmp_path: Path) -> None:
    svc = Service(tmp_path / "svc")
    key = svc.key("admin")
    results: list[str] = []

    def create_with_password() -> None:  # each call spends ~40 ms hashing in the bounded pool
        try:
            svc.create(key, username=unique(), password="Draining-pass-1")
            results.append("ok")
        except grpc.RpcError as err:
            results.append(err.code().name)

    threads = [threading.Thread(target=create_with_password) for _ in range(12)]
    for t in threads:
        t.start()
    while not results and any(t.is_alive() for t in threads):
        pass  # the first call has completed: the rest are queued behind the hash pool
    pgrep = subprocess.run(["pgrep", "-P", str(svc.process.pid), "envoy"], capture_output=True, text=True)
    envoy_pids = [int(p) for p in pgrep.stdout.split()]
    assert envoy_pids, "serve runs Envoy as its child"
    svc.process.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(30)
    code = svc.stop()
    assert code == 0
    assert results.count("ok") == 12, results
    for pid in envoy_pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


def test_restart_keeps_data_and_logs_are_json_lines(tmp_path: Path) -> None:
    svc = Service(tmp_path / "svc")
    key = svc.key("admin")
    made = svc.create(key, nickname="persisted")
    svc.rest("GET", "/v1/users", key=key)
    svc.stop()
    again = Service(tmp_path / "svc")
    try:
        assert again.get_user(key, made.id).nickname == "persisted"
    finally:
        again.stop()
    calls = []
    for line in again.logs().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("msg") == "call":
                calls.append(record)
    assert calls, "one JSON line per call"
    assert {"method", "status", "latency_ms", "key_id"} <= set(calls[0])
    assert any(c["method"] == "ListUsers" and c["status"] == "OK" for c in calls)
    assert key not in again.logs() and key.split("_", 2)[2] not in again.logs()


def test_listen_binds_grpc_and_envoy_to_that_address_only(tmp_path: Path) -> None:
    # 127.0.0.2 is loopback too (127.0.0.0/8), but not the default 127.0.0.1: a server that ignored
    # --listen, or an Envoy that looked for its upstream on 127.0.0.1, would fail here.
    svc = Service(tmp_path / "svc", extra=["--listen", "127.0.0.2"])
    try:
        key = svc.key("admin")
        made = svc.create(key, nickname="there")  # gRPC on 127.0.0.2
        reply = svc.rest("GET", f"/v1/users/{made.id}", key=key)  # REST through Envoy on 127.0.0.2
        assert reply.status == 200 and reply.json["nickname"] == "there"
        assert svc.http_port is not None
        assert refused("127.0.0.1", svc.grpc_port) and refused("127.0.0.1", svc.http_port)
    finally:
        svc.stop()


def test_access_lines_reach_the_log_while_the_server_runs(tmp_path: Path) -> None:
    # Lines are written in batches, at most ACCESS_FLUSH_S after their call; Service.logs() waits that long.
    svc = Service(tmp_path / "svc", envoy=False)
    try:
        key = svc.key("admin")
        made = svc.create(key)
        svc.get_user(key, made.id)
        calls = [json.loads(line) for line in svc.logs().splitlines()
                 if line.startswith("{") and '"msg": "call"' in line]
        assert [(c["method"], c["status"]) for c in calls] == [("CreateUser", "OK"), ("GetUser", "OK")]
    finally:
        svc.stop()


def test_a_server_a_test_started_stops_when_the_test_process_dies(tmp_path: Path) -> None:
    """A killed or timed-out test run leaves no server behind (``tests.support.Service``)."""
    code = ("import sys, time; from pathlib import Path; from tests.support import Service; "
            f"svc = Service(Path({str(tmp_path / 'svc')!r})); print(svc.process.pid, flush=True); time.sleep(120)")
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=ROOT, text=True) as test_process:
        try:
            server = int(test_process.stdout.readline())  # type: ignore[union-attr]
            envoys = [p for p in children(server) if command(p).startswith(str(BIN / "envoy"))]
            assert envoys and not gone(server)
        finally:
            test_process.kill()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all(gone(p) for p in (server, *envoys)):
        time.sleep(0.1)
    assert all(gone(p) for p in (server, *envoys))
