"""Children started while gRPC calls run (docs/reliability.md, "Child processes").

The server starts Envoy and its writer, and the tests start servers, with ``processes.spawn_owned``: a fork,
a ``preexec_fn``, then exec, from a process whose gRPC threads are busy. With grpc's fork handlers on, a
child could die of SIGABRT before its exec: 2-3 in 100 started by a plain ``Popen`` with a ``preexec_fn``,
3 in 2,000 started by ``spawn_owned`` (its own session makes it rarer). ``service`` turns the handlers off.
The test starts the plain kind, on which 300 children find a regression all but surely.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

pytestmark = [pytest.mark.process, pytest.mark.timeout(120)]

CHILDREN = 300


@pytest.fixture
def busy_grpc() -> Iterator[None]:
    """An in-process gRPC server, and two threads calling it without pause."""
    server = grpc.server(futures.ThreadPoolExecutor(4))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    stop = threading.Event()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        stub.Check(health_pb2.HealthCheckRequest(), timeout=10)

        def call() -> None:
            while not stop.is_set():
                stub.Check(health_pb2.HealthCheckRequest(), timeout=10)

        callers = [threading.Thread(target=call) for _ in range(2)]
        for caller in callers:
            caller.start()
        try:
            yield
        finally:
            stop.set()
            for caller in callers:
                caller.join(10)
    server.stop(None)


@pytest.mark.usefixtures("busy_grpc")
def test_every_child_forked_while_grpc_calls_run_reaches_its_program() -> None:
    codes = []
    for _ in range(CHILDREN):
        child = subprocess.Popen(["true"], preexec_fn=lambda: None, stdin=subprocess.DEVNULL)
        codes.append(child.wait(10))
    assert codes == [0] * CHILDREN
