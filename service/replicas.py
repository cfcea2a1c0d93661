"""``userservice serve --replicas N``: N server processes on one PostgreSQL database behind one Envoy.

Each replica is a plain ``userservice serve --no-envoy`` child with its own gRPC port (Envoy needs one
endpoint per process: behind one SO_REUSEPORT port one process got all of Envoy's connections, see
shared/FINDINGS.md). This parent migrates the database once, starts the children, learns their ports
from their start line, starts Envoy with one endpoint per child, and restarts a child that dies on the
same port. The children and Envoy run in sessions of their own (``processes.spawn_owned``), so a signal to
the process group reaches this parent only; on SIGTERM (or SIGINT) it drains Envoy's calls, then sends
SIGTERM to every child, which drains its own calls; then Envoy stops. A child or Envoy whose parent dies
gets SIGTERM.

SQLite keeps one writer process: ``check_replicas`` refuses more than one replica on it.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from types import FrameType
from typing import IO

from service import metrics, processes
from service.envoy import Envoy
from service.storage.postgres import is_postgres_url

log = logging.getLogger("userservice")
READY = "userservice: gRPC on "
METRICS = ", metrics on "
RESTART_DELAY_S = 1.0


def check_replicas(database: str, replicas: int) -> str | None:
    """Why ``replicas`` processes cannot serve ``database``, or None if they can."""
    if replicas < 1:
        return "--replicas must be at least 1"
    if replicas > 1 and not is_postgres_url(database):
        return ("--replicas > 1 needs PostgreSQL (--database postgresql://...): SQLite keeps one writer "
                "process, and two processes writing one SQLite file were slower than one (docs/scaling.md)")
    return None


@dataclass
class Replica:
    index: int
    args: list[str]
    port: int = 0
    #: Its Prometheus endpoint (``--metrics-port``); None: metrics are off.
    metrics_port: int | None = None
    process: subprocess.Popen[str] | None = None
    restarts: int = 0
    relay: list[threading.Thread] = field(default_factory=list)

    def start(self, timeout: float = 30.0) -> None:
        """Start the child and wait for its start line, which names its gRPC port."""
        args = [*self.args, "--grpc-port", str(self.port)]
        if self.metrics_port is not None:
            args += ["--metrics-port", str(self.metrics_port)]
        self.process = processes.spawn_owned(args, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                             bufsize=1)
        assert self.process.stdout is not None
        line = _read_line(self.process.stdout, timeout)
        if not line.startswith(READY):
            self.process.kill()
            self.process.wait()
            raise RuntimeError(f"replica {self.index} did not start (exit {self.process.returncode}): {line!r}")
        self.port = int(line[len(READY):].split(",", 1)[0].strip().rsplit(":", 1)[1])
        if METRICS in line:
            self.metrics_port = int(line.split(METRICS, 1)[1].split(",", 1)[0].strip().rsplit(":", 1)[1])
        relay = threading.Thread(target=_relay, args=(self.process.stdout,), daemon=True)
        relay.start()
        self.relay.append(relay)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _read_line(stream: IO[str], timeout: float) -> str:
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0].strip() if box else ""


def _relay(stream: IO[str]) -> None:
    for line in stream:
        sys.stdout.write(line)
        sys.stdout.flush()


def run(database: str, replicas: int, grpc_port: int, http_port: int | None, *, hash_workers: int = 1,
        grace: float = 10.0, listen: str = "127.0.0.1", metrics_port: int | None = None,
        metrics_listen: str = "127.0.0.1", password_min_length: int = 8, pool_size: int | None = None) -> int:
    """Serve with ``replicas`` processes until SIGTERM or SIGINT; returns the exit status.

    ``metrics_port`` P: this process serves Envoy's stats and the replica restarts there, replica i its
    own metrics on P + 1 + i (each a free port when P is 0).
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    child = [sys.executable, "-m", "service.cli", "serve", "--no-envoy", "--database", database,
             "--hash-workers", str(hash_workers), "--grace", str(grace), "--listen", listen,
             "--password-min-length", str(password_min_length)]
    if pool_size is not None:
        child += ["--pool-size", str(pool_size)]
    # --grpc-port P: replica i listens on P + i; 0: each replica takes a free port.
    exporter = None
    if metrics_port is not None:
        exporter = metrics.start(metrics_port, metrics_listen, parent=True)
        child += ["--metrics-listen", metrics_listen]
    group = [Replica(i, child, grpc_port + i if grpc_port else 0) for i in range(replicas)]
    for replica in group:  # metrics: replica i on P + 1 + i, or a free port of its own
        replica.metrics_port = None if metrics_port is None else metrics_port + 1 + replica.index if metrics_port else 0
    envoy: Envoy | None = None
    try:
        for replica in group:
            replica.start()
        ports = [r.port for r in group]
        if http_port is not None:
            envoy = Envoy(http_port, ports, listen=listen)
            envoy.wait_ready()
            if exporter is not None:
                exporter.add_envoy(envoy.admin_socket)
        print(READY + ", ".join(f"{listen}:{p}" for p in ports) + f" ({replicas} replicas)"
              + (f", REST and gRPC through Envoy on {listen}:{http_port}" if envoy else "")
              + (f"{METRICS}{metrics_listen}:{exporter.port} (Envoy), replicas' on "
                 + ", ".join(f"{metrics_listen}:{r.metrics_port}" for r in group) if exporter else ""), flush=True)
        while not stop.wait(0.2):
            for replica in group:
                if not replica.alive() and not stop.is_set():
                    code = replica.process.returncode if replica.process else None
                    log.error("replica exited; restarting it", extra={"port": replica.port, "code": code,
                                                                       "event": "replica_restart"})
                    if stop.wait(RESTART_DELAY_S):  # stopping meanwhile: not a crash
                        break
                    replica.restarts += 1
                    metrics.replica_restarted()
                    try:
                        replica.start()
                    except RuntimeError:
                        log.exception("replica restart failed", extra={"port": replica.port})
        return 0
    finally:
        if envoy is not None:  # Envoy's calls first, while every replica still answers them
            envoy.drain(grace)
        _stop_all(group, grace + 10)
        if envoy is not None:
            envoy.stop()
        if exporter is not None:
            exporter.close()


def _stop_all(group: list[Replica], timeout: float) -> None:
    """SIGTERM every child at once (each drains its calls), then wait; SIGKILL what is left at the deadline."""
    processes.stop_all([r.process for r in group if r.process is not None], timeout)
