"""The writer boundary's two candidates, A/B: what one crossing to another process costs in CPU.

    .venv/bin/python -m bench.crossing [--rounds 5] [--calls 20000] [--in-flight 16]

A crossing is what the server pays to hand a write to SQLite's writer process and get its answer, apart
from the write itself. Both candidates carry the same bytes (a 320-byte command, a 200-byte answer, the
sizes of a pickled ``Update`` and of a user), 16 in flight at once as under ``make bench`` (``--in-flight``;
1 shows a crossing with nothing to batch it with), to a child process that answers at once:

- ``frames``: what ``service.writer`` does: length-prefixed frames on a socket pair (``Frames``), a
  future per call;
- ``grpc``: a plain ``grpc.aio`` server on a Unix socket, called with a generic unary method (bytes in,
  bytes out, the caller's deadline as the call's timeout), as a server forwarding write methods would.

It prints, per round and as medians, the calls per second and the CPU of both processes per call (from
/proc), alternating the two candidates within each round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import grpc

from bench.cpu import cpu_seconds
from service.writer import Frames

COMMAND, ANSWER = b"c" * 320, b"a" * 200
IN_FLIGHT = 16
METHOD = "/bench.Crossing/Call"


# ---- the child: answers at once ---------------------------------------------------------------------------
async def _frames_child(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    os.set_blocking(sock.fileno(), False)
    closed = asyncio.Event()

    def on_frames(batch: list[tuple[int, bytes]]) -> None:
        frames.corked = True
        for call, _ in batch:
            frames.send(call, ANSWER)
        frames.corked = False
        frames.flush()

    _, frames = await asyncio.get_running_loop().create_unix_connection(
        lambda: Frames(on_frames, closed.set), sock=sock)
    await closed.wait()


async def _grpc_child(path: str) -> None:
    async def call(request: bytes, context: Any) -> bytes:
        return ANSWER

    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler("bench.Crossing", {
        "Call": grpc.unary_unary_rpc_method_handler(call)})  # bytes in and out: no (de)serializers
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"unix:{path}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


# ---- the parent: IN_FLIGHT callers ------------------------------------------------------------------------
async def _drive(call: Any, calls: int, in_flight: int = IN_FLIGHT) -> float:
    start = time.perf_counter()
    left = calls

    async def caller() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    await asyncio.gather(*(caller() for _ in range(in_flight)))
    return calls / (time.perf_counter() - start)


async def _frames_parent(calls: int, in_flight: int) -> tuple[float, float]:
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen([sys.executable, "-m", "bench.crossing", "--child", "frames", str(theirs.fileno())],
                            pass_fds=(theirs.fileno(),))
    theirs.close()
    loop = asyncio.get_running_loop()
    pending: dict[int, asyncio.Future[bytes]] = {}

    def answers(batch: list[tuple[int, bytes]]) -> None:
        for number, body in batch:
            pending.pop(number).set_result(body)

    _, frames = await loop.create_unix_connection(lambda: Frames(answers, lambda: None), sock=ours)
    counter = iter(range(1, 1 << 62))

    async def call() -> None:
        number = next(counter)
        future = pending[number] = loop.create_future()
        frames.send(number, COMMAND)
        await future

    await _drive(call, 1000)  # warm-up
    before = cpu_seconds(proc.pid)
    mine = time.process_time()
    rate = await _drive(call, calls, in_flight)
    spent = time.process_time() - mine + sum(cpu_seconds(proc.pid).values()) - sum(before.values())
    if frames.transport is not None:
        frames.transport.close()  # the child stops when its socket closes
    await loop.run_in_executor(None, proc.wait, 10)
    return rate, spent


async def _grpc_parent(calls: int, in_flight: int, workdir: Path) -> tuple[float, float]:
    path = str(workdir / f"crossing-{time.monotonic_ns()}.sock")
    proc = subprocess.Popen([sys.executable, "-m", "bench.crossing", "--child", "grpc", path],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()  # "ready"
    async with grpc.aio.insecure_channel(f"unix:{path}") as channel:
        method = channel.unary_unary(METHOD)  # bytes in and out

        async def call() -> None:
            await method(COMMAND, timeout=10.0)

        await _drive(call, 1000)  # warm-up
        before = cpu_seconds(proc.pid)
        mine = time.process_time()
        rate = await _drive(call, calls, in_flight)
        spent = time.process_time() - mine + sum(cpu_seconds(proc.pid).values()) - sum(before.values())
    proc.terminate()
    proc.wait(10)
    return rate, spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=IN_FLIGHT)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, where = args.child
        asyncio.run(_frames_child(int(where)) if kind == "frames" else _grpc_child(where))
        return 0
    rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with tempfile.TemporaryDirectory(prefix="bench-crossing-") as tmp:
        for i in range(args.rounds):
            for name in ("frames", "grpc"):
                if name == "frames":
                    rate, spent = asyncio.run(_frames_parent(args.calls, args.in_flight))
                else:
                    rate, spent = asyncio.run(_grpc_parent(args.calls, args.in_flight, Path(tmp)))
                rows[name]["rate"].append(rate)
                rows[name]["cpu"].append(spent / args.calls * 1e6)
                print(f"round {i + 1}: {name:6} {rate:8,.0f} calls/s  {spent / args.calls * 1e6:5.0f} us of CPU"
                      " per call (both processes)", flush=True)
    for name, row in rows.items():
        print(f"{name:6} medians: {statistics.median(row['rate']):8,.0f} calls/s, "
              f"{statistics.median(row['cpu']):5.0f} us of CPU per call")
    ratios = [g / f for f, g in zip(rows["frames"]["cpu"], rows["grpc"]["cpu"], strict=True)]
    print(f"grpc / frames, CPU per call (median of per-round ratios): {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
