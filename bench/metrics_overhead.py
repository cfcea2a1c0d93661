"""What ``--metrics-port`` costs per call (docs/api.md, "Metrics"): ``python -m bench.metrics_overhead``.

1. In process: a no-op handler awaited bare, then through ``service.metrics.CallMetrics``'s wrapper
   (the part of the cost the interceptor adds to every call), in microseconds per call.
2. End to end: GetUser with h2load against ``userservice serve --no-envoy`` without and with
   ``--metrics-port``, alternating, ``--rounds`` times; the server process's CPU per call (from /proc,
   steadier than throughput on a shared machine) and the calls per second.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from userservice.v1 import user_service_pb2

from bench import dataset
from bench.cpu import cpu_seconds
from bench.load import grpc_body, h2load
from bench.run import free_port, serve
from service import metrics

GET = "/userservice.v1.UserService/GetUser"


class _Context:
    def code(self) -> None:
        return None


async def _in_process(calls: int) -> tuple[float, float]:
    async def behavior(request: Any, context: Any) -> Any:
        return request

    handler = grpc.unary_unary_rpc_method_handler(behavior)
    wrapped = metrics.CallMetrics().wrap(GET, handler).unary_unary
    context = _Context()
    timings = []
    for run in (behavior, wrapped):
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(calls):
                await run(b"", context)
            best = min(best, time.perf_counter() - start)
        timings.append(best / calls * 1e6)
    return timings[0], timings[1]


def _end_to_end(workdir: Path, with_metrics: bool, requests: int, streams: int) -> tuple[float, float]:
    db = workdir / f"users-{int(with_metrics)}.db"
    key = dataset.admin_key(db)  # a fresh database with one admin key
    port = free_port()
    extra = ["--metrics-port", str(free_port())] if with_metrics else []
    with serve(db, port, None, workdir / "serve.log", extra=extra) as server:
        body = grpc_body(user_service_pb2.GetUserRequest(id="usr_none"))  # NOT_FOUND: a read, no row
        h2load("warm", port, GET, body, key=key, streams=streams, requests=requests // 4)
        before = sum(cpu_seconds(server.pid).values())
        result = h2load("get", port, GET, body, key=key, streams=streams, requests=requests)
        spent = sum(cpu_seconds(server.pid).values()) - before
    return spent / result.requests * 1e6, result.rps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_overhead", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--streams", type=int, default=16)
    args = parser.parse_args(argv)
    bare, wrapped = asyncio.run(_in_process(200_000))
    print(f"in process: bare handler {bare:.2f} us, through CallMetrics {wrapped:.2f} us: "
          f"+{wrapped - bare:.2f} us per call")
    runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        for _ in range(args.rounds):
            for on in (False, True):
                runs[on].append(_end_to_end(Path(tmp), on, args.requests, args.streams))
    for on in (False, True):
        cpu = statistics.median(r[0] for r in runs[on])
        rps = statistics.median(r[1] for r in runs[on])
        print(f"GetUser, metrics {'on ' if on else 'off'}: server CPU {cpu:.1f} us per call, {rps:,.0f} calls/s "
              f"(median of {args.rounds}; each: " + ", ".join(f"{c:.1f} us" for c, _ in runs[on]) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
