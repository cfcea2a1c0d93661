"""Throughput of `userservice serve --replicas N` on one PostgreSQL database, through Envoy (docs/scaling.md).

    .venv/bin/python -m bench.replicas [--seconds 10] [--streams 16] [--postgres URL]

For each setup (SQLite with 1 process, PostgreSQL with 1 and 2 replicas) it starts the real service on
free loopback ports over a fresh database, creates 64 users, then runs ``--streams`` concurrent gRPC
UpdateUser calls (each on a random user, one field, explicit mask) through Envoy for ``--seconds``,
bounded in time and count, and counts gRPC statuses (not HTTP codes). The load generator is one Python
grpc.aio process on the same 2 cores as the servers, Envoy and PostgreSQL: compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc
import psycopg2
from userservice.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc

BIN = Path(sys.executable).parent
MAX_CALLS = 200_000


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(database: str, replicas: int, workdir: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    http_port = free_port()
    log = workdir / f"serve-{http_port}.log"
    process = subprocess.Popen([str(BIN / "userservice"), "serve", "--database", database, "--replicas",
                                str(replicas), "--grpc-port", "0" if replicas > 1 else str(free_port()),
                                "--http-port", str(http_port)],
                               stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while "userservice: gRPC on" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(log.read_text())
        time.sleep(0.05)
    return process, http_port, log


def admin_key(database: str) -> str:
    out = subprocess.run([str(BIN / "userservice"), "keys", "create", "--database", database, "--tenant", "bench",
                          "--role", "admin"], capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.strip().splitlines()[-1]


async def load(port: int, key: str, seconds: float, streams: int) -> dict[str, float]:
    md = (("authorization", f"Bearer {key}"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        users = [(await stub.CreateUser(user_service_pb2.CreateUserRequest(
            user=user_pb2.User(username=f"b{uuid.uuid4().hex[:12]}")), metadata=md)).id for _ in range(64)]
        latencies: list[float] = []
        codes: dict[str, int] = {}
        stop_at = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < stop_at and len(latencies) < MAX_CALLS:
                request = user_service_pb2.UpdateUserRequest(
                    user=user_pb2.User(id=random.choice(users), display_name=uuid.uuid4().hex),
                    update_mask={"paths": ["display_name"]})
                began = time.perf_counter()
                try:
                    await stub.UpdateUser(request, metadata=md, timeout=10)
                    code = "OK"
                except grpc.aio.AioRpcError as err:
                    code = err.code().name
                latencies.append(time.perf_counter() - began)
                codes[code] = codes.get(code, 0) + 1

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(streams)))
        elapsed = time.monotonic() - began
    latencies.sort()
    return {"calls": len(latencies), "ok": codes.get("OK", 0), "errors": len(latencies) - codes.get("OK", 0),
            "per_s": codes.get("OK", 0) / elapsed, "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)]}


def fresh_postgres(server: str, synchronous_commit: bool = True) -> tuple[str, str]:
    name = f"userservice_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conn = psycopg2.connect(server)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE DATABASE "{name}"')
    if not synchronous_commit:  # a crash of PostgreSQL may lose the last acknowledged writes (not the default)
        conn.cursor().execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    conn.close()
    return server.split("?", 1)[0].rsplit("/", 1)[0] + "/" + name, name


def drop_postgres(server: str, name: str) -> None:
    conn = psycopg2.connect(server)
    conn.autocommit = True
    conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--postgres", default=os.environ.get("USERSERVICE_TEST_POSTGRES",
                                                             "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {args.streams} streams, {args.seconds:.0f} s each, "
          "UpdateUser through Envoy (gRPC)")
    print("| setup | calls/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="userservice-bench-") as tmp:
        setups = [("SQLite, 1 process", None, 1), ("PostgreSQL, 1 replica", "pg", 1),
                  ("PostgreSQL, 2 replicas", "pg", 2), ("PostgreSQL, 4 replicas", "pg", 4),
                  ("PostgreSQL, 1 replica, synchronous_commit=off", "pg-async", 1),
                  ("PostgreSQL, 2 replicas, synchronous_commit=off", "pg-async", 2)]
        for label, kind, replicas in setups:
            name = ""
            database = f"sqlite:///{tmp}/{uuid.uuid4().hex}.db"
            if kind:
                database, name = fresh_postgres(args.postgres, synchronous_commit=kind == "pg")
            process = None
            try:
                process, http_port, _ = start(database, replicas, Path(tmp))
                result = asyncio.run(load(http_port, admin_key(database), args.seconds, args.streams))
                print(f"| {label} | {result['per_s']:,.0f} | {result['p50_ms']:.1f} | {result['p99_ms']:.1f} "
                      f"| {result['errors']:.0f} |", flush=True)
            finally:
                if process is not None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(30)
                if name:
                    drop_postgres(args.postgres, name)


if __name__ == "__main__":
    main()
