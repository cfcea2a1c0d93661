"""Prometheus metrics: the gRPC interceptor that counts calls, the hooks the core calls, and the
``--metrics-port`` endpoint that serves them with Envoy's stats. docs/api.md ("Metrics") lists every
metric, says where each comes from and what it costs.

Off until ``start`` is called (``--metrics-port``); while off, no interceptor is installed and each hook
returns at once.

- gRPC calls (go-grpc-prometheus's names and labels) are counted by ``CallMetrics``, an interceptor of
  its own placed first, in plain integers that a collector reads at scrape time: prometheus-client's
  ``Counter``/``Histogram`` would cost about three times as much per call in memory, ten times in
  multiprocess mode, on a service whose calls cost a few hundred microseconds.
- The writer is a child process: prometheus-client's multiprocess mode, not a channel of our
  own. ``start`` names a fresh directory in ``PROMETHEUS_MULTIPROC_DIR`` and ``USERSERVICE_METRICS_DIR``
  before the writer starts; the writer inherits both, this module turns metrics on when it is imported
  there, and the server's endpoint sums the processes' files.
- Envoy's stats are read from its admin interface on a Unix socket at each scrape and appended as Envoy
  wrote them (``service.metrics_endpoint.Exporter`` says why not through prometheus-client's own server).
"""

from __future__ import annotations

import asyncio
import bisect
import inspect
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from service.metrics_endpoint import Exporter

if TYPE_CHECKING:
    import subprocess

    from prometheus_client.metrics_core import Metric

log = logging.getLogger("userservice")
T = TypeVar("T")
#: Set (to the multiprocess directory) for the processes whose metrics a server's endpoint reads.
ENV_DIR = "USERSERVICE_METRICS_DIR"
#: Seconds: finer than Prometheus's default buckets below 5 ms, where most calls end, then the same.
CALL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Commands per group-commit transaction (PostgreSQL), up to ``service.dbthreads.MAX_GROUP``.
GROUP_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16)
TRANSACTION_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
#: grpc.StatusCode -> the code's name as Go's codes.Code.String() writes it (go-grpc-prometheus's label).
GO_CODES = {code: "OK" if code is grpc.StatusCode.OK else "Canceled" if code is grpc.StatusCode.CANCELLED
            else "".join(part.capitalize() for part in code.name.split("_")) for code in grpc.StatusCode}


class _Recorded:
    """The figures of this process that prometheus-client keeps (in memory, or in the multiprocess files)."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.transaction_seconds = Histogram(
            "userservice_db_transaction_seconds", "Time of a write transaction, each attempt, commit included.",
            buckets=TRANSACTION_BUCKETS, registry=registry)
        self.group_commands = Histogram(
            "userservice_db_group_commands", "Write commands answered by one group-commit transaction "
            "(PostgreSQL): written, replayed, or refused by their own rules.", buckets=GROUP_BUCKETS, registry=registry)
        self.transaction_retries = Counter(
            "userservice_db_transaction_retries", "Write transactions run again after a serialization "
            "failure or deadlock (PostgreSQL).", registry=registry)
        self.hash_queue = Gauge(
            "userservice_password_hash_queue_depth", "Password hashes and verifications running or waiting "
            "for the hashing pool.", multiprocess_mode="livesum", registry=registry)
        self.hash_rejections = Counter(
            "userservice_password_hash_rejections", "Password operations refused because the pool's queue "
            "was full (RESOURCE_EXHAUSTED, PASSWORD_POOL_FULL).", registry=registry)
        self.writer_restarts = Counter(
            "userservice_writer_restarts", "Writer processes started after the first one.",
            registry=registry)


def _replica_restarts(registry: Any) -> Any:
    from prometheus_client import Counter

    return Counter("userservice_replica_restarts", "Replica processes restarted by `serve --replicas` after "
                   "one exited.", registry=registry)


_on: _Recorded | None = None  # a server (or its writer) records
_parent: Any = None  # the replicas' parent records (a Counter)


# ---- hooks the core calls: each returns at once while metrics are off -----------------------------
def transaction(run: Callable[[], T]) -> T:
    """Run one attempt of a write transaction, timed."""
    on = _on
    if on is None:
        return run()
    start = time.perf_counter()
    try:
        return run()
    finally:
        on.transaction_seconds.observe(time.perf_counter() - start)


def group_committed(commands: int) -> None:
    if _on is not None:
        _on.group_commands.observe(commands)


def transaction_retried() -> None:
    if _on is not None:
        _on.transaction_retries.inc()


def hash_queue(depth: int) -> None:
    if _on is not None:
        _on.hash_queue.set(depth)


def hash_rejected() -> None:
    if _on is not None:
        _on.hash_rejections.inc()


def writer_starting(previous: subprocess.Popen[bytes] | None) -> None:
    """A writer process is about to start; ``previous``, the one it replaces (None for the first)."""
    if _on is not None and previous is not None:
        _on.writer_restarts.inc()
        if os.environ.get(ENV_DIR):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(previous.pid)  # type: ignore[no-untyped-call]


def replica_restarted() -> None:
    if _parent is not None:
        _parent.inc()


def interceptors() -> list[grpc.aio.ServerInterceptor]:  # type: ignore[type-arg]
    """The interceptors to put first on a server: ``CallMetrics`` while metrics are on, else none."""
    return [CALLS] if _on is not None else []


# ---- gRPC calls ---------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Method:
    labels: tuple[str, str, str]  # grpc_type, grpc_service, grpc_method
    started: int = 0
    handled: dict[str, int] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * (len(CALL_BUCKETS) + 1))
    seconds: float = 0.0

    def done(self, code: grpc.StatusCode | None, start: float) -> None:
        elapsed = time.perf_counter() - start
        name = GO_CODES[code] if code is not None else "OK"
        self.handled[name] = self.handled.get(name, 0) + 1
        self.buckets[bisect.bisect_left(CALL_BUCKETS, elapsed)] += 1
        self.seconds += elapsed


Handler = Any  # grpc.RpcMethodHandler


class CallMetrics(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Counts every call by method and code and times it; wraps each method's handler once, on its first call.

    The event loop's thread counts; the scrape reads copies (one C-level copy per dict or list, so a
    scrape never sees a dict change size under it).
    """

    def __init__(self) -> None:
        self.methods: dict[str, _Method] = {}
        self._wrapped: dict[str, Handler] = {}

    async def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
                                details: grpc.HandlerCallDetails) -> Handler:
        method: str = details.method
        cached = self._wrapped.get(method)
        if cached is not None:
            return cached
        handler = await continuation(details)
        if handler is None:  # UNIMPLEMENTED: not counted (go-grpc-prometheus never sees those either)
            return None
        wrapped = self.wrap(method, handler)
        self._wrapped[method] = wrapped
        return wrapped

    def wrap(self, method: str, handler: Handler) -> Handler:
        """``handler`` (any of the four kinds), counting and timing each call of ``method``."""
        service, _, name = method.lstrip("/").rpartition("/")
        kind, behavior = next((k, b) for k, b in (
            ("unary", handler.unary_unary), ("server_stream", handler.unary_stream),
            ("client_stream", handler.stream_unary), ("bidi_stream", handler.stream_stream)) if b is not None)
        counts = self.methods[method] = _Method((kind, service, name))
        make: Any = {"unary": grpc.unary_unary_rpc_method_handler,
                     "server_stream": grpc.unary_stream_rpc_method_handler,
                     "client_stream": grpc.stream_unary_rpc_method_handler,
                     "bidi_stream": grpc.stream_stream_rpc_method_handler}[kind]
        if inspect.isasyncgenfunction(behavior):
            async def streamed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
                with _Counted(counts, context):
                    async for reply in behavior(request, context):
                        yield reply
            run: Any = streamed
        else:
            async def called(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                with _Counted(counts, context):
                    return await behavior(request, context)
            run = called
        return make(run, request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer)

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        names = ["grpc_type", "grpc_service", "grpc_method"]
        started = CounterMetricFamily("grpc_server_started_total", "RPCs started on the server.", labels=names)
        handled = CounterMetricFamily("grpc_server_handled_total", "RPCs completed on the server, by code.",
                                      labels=[*names, "grpc_code"])
        seconds = HistogramMetricFamily("grpc_server_handling_seconds", "Time an RPC took on the server, "
                                        "until its handler returned.", labels=names)
        for m in list(self.methods.values()):
            labels = list(m.labels)
            started.add_metric(labels, m.started)
            for code, count in dict(m.handled).items():
                handled.add_metric([*labels, code], count)
            counts, total = list(m.buckets), 0
            cumulative = []
            for bound, count in zip((*(str(b) for b in CALL_BUCKETS), "+Inf"), counts, strict=True):
                total += count
                cumulative.append((bound, total))
            seconds.add_metric(labels, cumulative, m.seconds)
        yield from (started, handled, seconds)


class _Counted:
    """One call of a method, counted when it starts and when it ends, with the code it ends with: the
    context's (OK when none was set, or the code of an abort), CANCELLED for a cancelled call, else the
    context's code or UNKNOWN for an exception."""

    __slots__ = ("context", "counts", "start")

    def __init__(self, counts: _Method, context: Any) -> None:
        self.counts, self.context = counts, context

    def __enter__(self) -> None:
        self.counts.started += 1
        self.start = time.perf_counter()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        code: grpc.StatusCode | None = self.context.code()
        if exc is not None and not isinstance(exc, grpc.aio.AbortError):
            code = grpc.StatusCode.CANCELLED if isinstance(exc, asyncio.CancelledError) else (
                code or grpc.StatusCode.UNKNOWN)
        self.counts.done(code, self.start)


CALLS = CallMetrics()


def start(port: int, listen: str = "127.0.0.1", *, child_processes: bool = False, parent: bool = False) -> Exporter:
    """Turn metrics on in this process and serve them on ``listen:port`` (0: a free port).

    ``child_processes``: processes started from now on with this environment (the writer) record
    into files this endpoint reads (multiprocess mode); call before starting them, and before anything
    imports prometheus_client. ``parent``: this is the replicas' parent, which serves no calls and only
    counts replica restarts (and serves Envoy's stats, once ``add_envoy`` names its socket).
    """
    global _on, _parent
    directory = None
    if child_processes:
        directory = tempfile.mkdtemp(prefix="userservice-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ[ENV_DIR] = directory
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    if parent:
        _parent = _replica_restarts(registry)
    elif directory is not None:
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        _on = _Recorded(registry=None)
    else:
        _on = _Recorded(registry=registry)
    if not parent:
        registry.register(CALLS)
    return Exporter(port, listen, registry, directory)


if os.environ.get(ENV_DIR):  # a child process (the writer) of a server whose endpoint reads our files
    _on = _Recorded(registry=None)
