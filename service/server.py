"""Wiring: ``create_server`` (gRPC on a port, tests bind port 0) apart from ``serve`` (gRPC + Envoy).

grpc.aio was chosen by measurement (shared/FINDINGS.md): a no-op aio server answers 4,450-6,000
calls/s at 16 streams against 3,400-4,100 for the sync pool, and the sync pool's p99 explodes
past 8 workers. On SQLite, every call that writes runs in the writer process (``service.writer``),
so the event loop here keeps only gRPC, keys, logs and reads. On PostgreSQL the servicer's reads and
every write command run on a bounded thread pool (``service.dbthreads``), many transactions in flight,
so a row lock, a commit or a retry's backoff never holds the event loop. Password hashing leaves the
loop too, for a small bounded pool of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from userservice.v1 import user_service_pb2_grpc

from service import compat, envoy, metrics
from service import reflection as symbols
from service.auth import Authenticator
from service.dbthreads import Threads
from service.envoy import Envoy
from service.interceptors import CallInterceptor
from service.passwords import Hasher
from service.settings import Settings
from service.storage import Store, sqlite_file
from service.users.servicer import UserService, Writes
from service.writer import InProcess, WriterClient

log = logging.getLogger("userservice")
MAX_MESSAGE_BYTES = envoy.MAX_BODY_BYTES
#: gRPC metadata a call may carry (grpc's default soft limit is 8 KiB). Envoy passes up to
#: ``envoy.MAX_HEADERS_KB`` of headers and adds a copy of the URL (``x-envoy-original-path``): that must
#: never be refused here as RESOURCE_EXHAUSTED, a 429 naming Envoy's internal headers.
MAX_METADATA_BYTES = 64 << 10
SERVICE_NAMES = (*envoy.SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME)


@dataclass(frozen=True)
class Parts:
    """The classes ``serve`` builds the service from; a benchmark variant injects subclasses (never patches)."""

    store: type[Store] = Store
    users: type[UserService] = UserService
    writer: type[WriterClient] = WriterClient
    threads: type[Threads] = Threads
    interceptor: type[CallInterceptor] | None = CallInterceptor


@dataclass
class Running:
    server: grpc.aio.Server
    port: int
    health: Any


async def create_server(store: Store, hasher: Hasher, address: str = "127.0.0.1:0",
                        writes: Writes | None = None, parts: Parts = Parts()) -> Running:
    """A started gRPC server with UserService, the seed adapters, health and reflection; returns it and its port.

    ``writes``: where write commands run (default: on ``store``, in this process).
    """
    auth = Authenticator(store)
    server = grpc.aio.server(
        interceptors=[*metrics.interceptors(),  # first: it times everything after it (service/metrics.py)
                      *([parts.interceptor(auth, open_methods=compat.SELF_AUTHENTICATED)]
                        if parts.interceptor else [])],
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.max_send_message_length", 4 * MAX_MESSAGE_BYTES),
                 ("grpc.max_metadata_size", MAX_METADATA_BYTES),
                 ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
                 ("grpc.so_reuseport", 0)],
    )
    users = parts.users(store, hasher, writes or InProcess(store))
    user_service_pb2_grpc.add_UserServiceServicer_to_server(users, server)  # type: ignore[no-untyped-call]
    compat.add_to_server(server, users, auth)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    symbols.enable(SERVICE_NAMES, server)  # grpcio-reflection, finding methods too (service/reflection.py)
    port = server.add_insecure_port(address)
    await server.start()
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return Running(server, port, health_servicer)


async def _watch_file(store: Store, running: Running, interval: float = 0.5) -> None:
    """SQLite: once the database file is deleted or replaced, health is NOT_SERVING for good (writes are
    refused by the store that runs them, ``Database.check_file``); one ``stat`` per ``interval``."""
    while store.database.file is not None:
        await asyncio.sleep(interval)
        if store.database.check_file() is not None:
            for name in ("", *SERVICE_NAMES):
                await running.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
            return


async def serve(settings: Settings, parts: Parts = Parts()) -> None:
    """Run until SIGTERM or SIGINT: then drain in-flight calls (Envoy's first), stop Envoy, stop the server.

    Envoy runs in a session of its own, so a signal to the whole process group reaches this process only,
    and the order is the same whatever the signal reached (``service.processes.spawn_owned``).

    Unless ``settings.writer_process`` is off, write commands run in a writer process (``service.writer``);
    on PostgreSQL the server's reads run on its database threads (``service.dbthreads``), and without a
    writer process its writes too. ``parts``: the classes to build it from (a benchmark injects variants).
    ``settings.metrics_port``: serve Prometheus metrics there (``service.metrics``).
    """
    store = parts.store(settings.database, busy_timeout_ms=settings.busy_timeout_ms,
                  max_page_count=settings.sqlite_max_page_count, pool_size=settings.pool_size)
    if store.database.file is not None and (open_to_others := sqlite_file.exposed(store.database.file.path)):
        log.warning(f"the database holds password hashes and personal data, yet group or others may read it: "
                    f"{', '.join(open_to_others)}; chmod 600 (and 700 its directory)", extra={"event": "start"})
    writer = None
    threads = None if store.is_sqlite else parts.threads(store)
    exporter = None
    if settings.metrics_port is not None:  # before the writer starts: it inherits where to record
        exporter = metrics.start(settings.metrics_port, settings.metrics_listen,
                                 child_processes=settings.writer_process)
    if settings.writer_process:  # the writer process writes (and checkpoints SQLite's WAL)
        writer = parts.writer(settings, reads=threads)
        await writer.start()
    else:
        store.checkpoint_in_background()
    hasher = Hasher(workers=settings.hash_workers, min_length=settings.password_min_length)
    listen, http_port, grace = settings.listen, settings.http_port, settings.grace
    running = await create_server(store, hasher, f"{listen}:{settings.grpc_port}", writer or threads, parts)
    envoy = None
    try:
        if http_port is not None:
            envoy = Envoy(http_port, [running.port], listen=listen)
            await asyncio.get_running_loop().run_in_executor(None, envoy.wait_ready)
            if exporter is not None:
                exporter.add_envoy(envoy.admin_socket)
        log.info("serving", extra={"port": running.port, "event": "start"})
        print(f"userservice: gRPC on {listen}:{running.port}"
              + (f", REST and gRPC through Envoy on {listen}:{http_port}" if envoy else "")
              + (f", metrics on {settings.metrics_listen}:{exporter.port}" if exporter else ""), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        watch = asyncio.create_task(_watch_file(store, running))
        await stop.wait()
        watch.cancel()
        log.info("draining", extra={"event": "stop"})
        deadline = loop.time() + grace
        for name in ("", *SERVICE_NAMES):
            await running.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        if envoy is not None:  # first Envoy's calls, while the server still answers them (docs/api.md, "Running")
            left = await loop.run_in_executor(None, envoy.drain, grace)
            if left:
                log.warning(f"Envoy still carried {left} calls at the end of the grace period", extra={"event": "stop"})
        await running.server.stop(max(0.0, deadline - loop.time()))
    finally:
        if envoy is not None:
            envoy.stop()
        with contextlib.suppress(Exception):
            await running.server.stop(0)
        if writer is not None:  # after the drain: the calls it ran have all been answered
            await writer.stop(grace)
        hasher.close()
        if threads is not None:  # after the drain: the calls it ran have all been answered
            threads.close()
        store.close()
        if exporter is not None:
            exporter.close()
        log.info("stopped", extra={"event": "stopped"})
