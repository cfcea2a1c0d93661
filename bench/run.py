"""``make bench``: the real service against its floor, on loopback, in one bounded run.

Builds a 10,000-user database (and a cached 1,000,000-user one under bench/results/), starts the
no-op floor server and the real service (with Envoy), drives them with h2load and wrk, and prints
req/s, p50, p99 and the ratios the goals of docs/benchmarks.md are stated in. Every measurement is
taken once per round (``--rounds``, 5 by default), so that each ratio compares figures taken seconds apart
and a burst of CPU steal on one of them moves one round, not the result. Results also go to
bench/results/last.json. Every server is on a free port and stopped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc

from bench import dataset
from bench.cpu import Meter, cpu_line
from bench.load import Result, grpc_body, h2load, wrk_patch
from service import processes
from service.passwords import make_context

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
UPDATE = "/userservice.v1.UserService/UpdateUser"
PEER = "REST PATCH FastAPI peer 16 conns"
LIST = "/userservice.v1.UserService/ListUsers"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def process(args: list[str], log: Path, ready: str, timeout: float = 60.0,
            env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A child process, up once ``ready`` is in its log; SIGTERM (then SIGKILL) on the way out."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT,
                                env=env)
        try:
            deadline = time.monotonic() + timeout
            while ready not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{args[0]} did not start:\n{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.05)
            yield proc
        finally:
            processes.stop(proc, 15)


def serve(db: Path, grpc_port: int, http_port: int | None, log: Path,
          command: list[str] | None = None, extra: list[str] | None = None,
          env: dict[str, str] | None = None) -> contextmanager:  # type: ignore[type-arg]
    """``userservice serve`` on ``db`` (or ``command`` with the same arguments, as bench.decompose's variants)."""
    args = [*(command or [str(BIN / "userservice")]), "serve", "--database", f"sqlite:///{db}",
            "--grpc-port", str(grpc_port), "--grace", "2", *(extra or [])]
    args += ["--http-port", str(http_port)] if http_port else ["--no-envoy"]
    return process(args, log, "userservice: gRPC on", env=env)


def noop_floor(port: int, run_dir: Path) -> contextmanager:  # type: ignore[type-arg]
    """The no-op grpc.aio server every CPU and throughput ratio is taken against (``bench.noop_server``)."""
    return process([sys.executable, "-m", "bench.noop_server", "--port", str(port)], run_dir / "noop.log", "ready")


#: The command of ``userservice`` run from the code of the checkout ``checkout_env`` names.
CHECKOUT_COMMAND = [sys.executable, "-m", "service.cli"]


def checkout_env(tree: Path) -> dict[str, str]:
    """An environment in which every process of ``serve`` (the writer included) imports from ``tree``, another
    checkout (a ``git worktree`` of an older commit); PYTHONSAFEPATH: the working directory, this checkout,
    is not put before it."""
    return {**os.environ, "PYTHONPATH": f"{tree.resolve()}/generated:{tree.resolve()}", "PYTHONSAFEPATH": "1"}


def serve_checkout(tree: Path, db: Path, grpc_port: int, http_port: int | None,
                   log: Path) -> contextmanager:  # type: ignore[type-arg]
    """``serve`` on ``db`` from another checkout's code (``checkout_env``)."""
    return serve(db, grpc_port, http_port, log, command=CHECKOUT_COMMAND, env=checkout_env(tree))


def new_run(kind: str, users: int = 10_000) -> tuple[Path, Path]:
    """A fresh ``bench/results/KIND-<time>/`` and a ``users``-user SQLite database in it, to copy per server."""
    run_dir = RESULTS / time.strftime(f"{kind}-%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True)
    template = run_dir / "template.db"
    dataset.build(template, users, make_context().hash(dataset.PASSWORD))
    return run_dir, template


def update_request(user_id: str) -> user_service_pb2.UpdateUserRequest:
    """Two masked fields, no password: the request every UpdateUser measurement sends."""
    return user_service_pb2.UpdateUserRequest(
        user=user_pb2.User(id=user_id, display_name="Name 00000000", given_name="Given 00000000"),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name", "given_name"]))


def audit_counts(db: Path) -> tuple[int, int]:
    """(audit rows, audit rows that changed something): one per successful update, grpc-status OK."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        total, wrote = conn.execute("SELECT count(*), coalesce(sum(paths != '[]'), 0) FROM user_changes "
                                    "WHERE method = 'UpdateUser'").fetchone()
    return int(total), int(wrote)


def check_grpc(port: int, key: str, width: int, samples: int = 5) -> None:
    """h2load counts HTTP 200s: check with a real client that these calls answer grpc-status OK."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        for i in range(samples):
            request = update_request(dataset.user_id(i, width))
            request.user.display_name = f"Name {i:08d}"
            user = stub.UpdateUser(request, metadata=(("authorization", f"Bearer {key}"),), timeout=10)
            assert user.display_name == request.user.display_name, user


def measured_update(name: str, port: int, key: str | None, db: Path | None, width: int, streams: int,
                    requests: int) -> Result:
    """h2load UpdateUser with rotating ids and values; failures counted from grpc-status (audit rows)."""
    before = audit_counts(db) if db else (0, 0)
    result = h2load(name, port, UPDATE, grpc_body(update_request(dataset.user_id(0, width))), key=key,
                    streams=streams, requests=requests,
                    rotate=[(b"usr_bench", width), (b"Name ", 8), (b"Given ", 8)])
    if db:
        total, wrote = (a - b for a, b in zip(audit_counts(db), before, strict=True))
        result.failed = max(result.failed, result.requests - total)
        result.note = f"grpc OK {total}/{result.requests}, rows changed {wrote}"
    return result


def page_token(port: int, key: str, page: int, size: int) -> str:
    """The token of page ``page`` (1-based), walking the keyset pages with a real client."""
    token = ""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        for _ in range(page - 1):
            reply = stub.ListUsers(user_service_pb2.ListUsersRequest(page_size=size, page_token=token),
                                   metadata=(("authorization", f"Bearer {key}"),), timeout=10)
            token = reply.next_page_token
    return token


class PasswordChurn:
    """``clients`` threads changing their own user's password back and forth, without pause; each leaves
    its user with the password it found (the next round starts from it)."""

    def __init__(self, port: int, key: str, width: int, clients: int = 4) -> None:
        self.port, self.key, self.width, self.clients = port, key, width, clients
        self._stop = threading.Event()
        self.done = 0
        self.errors: list[str] = []
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(clients)]

    def _run(self, i: int) -> None:
        user_id = dataset.user_id(10 ** self.width - 1 - i, self.width)
        current, other = dataset.PASSWORD, "Bench-Password-2"
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            stub = user_service_pb2_grpc.UserServiceStub(channel)
            while not self._stop.is_set():
                try:
                    stub.ChangePassword(user_service_pb2.ChangePasswordRequest(
                        id=user_id, current_password=current, new_password=other),
                        metadata=(("authorization", f"Bearer {self.key}"),), timeout=30)
                    current, other = other, current
                    self.done += 1
                except grpc.RpcError as err:
                    self.errors.append(str(err.code()))
                    time.sleep(0.05)
            if current != dataset.PASSWORD:  # leave the user as found, for the next round's churn
                try:
                    stub.ChangePassword(user_service_pb2.ChangePasswordRequest(
                        id=user_id, current_password=current, new_password=dataset.PASSWORD),
                        metadata=(("authorization", f"Bearer {self.key}"),), timeout=30)
                except grpc.RpcError as err:
                    self.errors.append(str(err.code()))

    def __enter__(self) -> PasswordChurn:
        for t in self._threads:
            t.start()
        time.sleep(1.0)  # let the pool fill up before measuring
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)


def million_db(n: int, password_hash: str) -> tuple[Path, float | None]:
    """The big database, cached in bench/results/ (gitignored); built again when missing or short."""
    path = RESULTS / f"users-{n}.db"
    if path.exists():
        with suppress(sqlite3.Error), sqlite3.connect(path) as conn:
            if conn.execute("SELECT count(*) FROM users").fetchone()[0] == n:
                return path, None
    return path, dataset.build(path, n, password_hash)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=15_000, help="h2load requests per measurement")
    parser.add_argument("--seconds", type=int, default=6, help="wrk duration per measurement")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds of every measurement; goals use the median of the per-round ratios")
    parser.add_argument("--big", type=int, default=1_000_000, help="users in the big database (0: skip)")
    parser.add_argument("--skip", default="",
                        help="comma-separated parts to skip: rest,list,password,big,postgres")
    parser.add_argument("--pg-rounds", type=int, default=3, help="rounds of the PostgreSQL section (bench.postgres)")
    parser.add_argument("--postgres", default=None,
                        help="PostgreSQL server for its section (default $USERSERVICE_TEST_POSTGRES or local)")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    RESULTS.mkdir(parents=True, exist_ok=True)
    run_dir = RESULTS / time.strftime("run-%Y%m%d-%H%M%S")
    run_dir.mkdir()
    n, width = 10_000, dataset.digits(10_000)
    password_hash = make_context().hash(dataset.PASSWORD)
    small = run_dir / "users-10000.db"
    print(f"building {n} users ... {dataset.build(small, n, password_hash):.1f}s", flush=True)
    key = dataset.admin_key(small)
    results: dict[str, list[Result]] = {}
    start_cpu = cpu_times()

    def show(r: Result) -> None:
        results.setdefault(r.name, []).append(r)
        print(f"  {r.name:<34} {r.rps:>8.0f} req/s  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms  "
              f"n={r.requests} failed={r.failed} {r.note}", flush=True)

    cpu: dict[str, list[dict[str, float]]] = {}  # name -> per round, CPU us per call by role (bench.cpu)

    def metered(root: int, run: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
        with Meter(root) as meter:
            result = run(*args, **kwargs)
        cpu.setdefault(result.name, []).append({**meter.per_call(result.requests), "cores": meter.cores,
                                                "steal": meter.steal})
        return result

    noop_port, grpc_port, http_port, peer_port = free_port(), free_port(), free_port(), free_port()
    with ExitStack() as stack:
        noop = stack.enter_context(noop_floor(noop_port, run_dir))
        server = stack.enter_context(serve(small, grpc_port, http_port, run_dir / "serve-10000.log"))
        peer = None if "rest" in skip else stack.enter_context(process(  # issue 20: the hand-written peer
            [sys.executable, "-m", "bench.fastapi_peer", "--database", str(run_dir / "fastapi-peer.db"),
             "--port", str(peer_port), "--build", str(n)], run_dir / "fastapi-peer.log", "Uvicorn running on"))
        check_grpc(grpc_port, key, width)
        # Warm both up (connections, caches, first-call code paths), then alternate floor and service,
        # round after round: each ratio is taken within a round, seconds apart.
        measured_update("warm-up floor", noop_port, None, None, width, 16, 2000)
        measured_update("warm-up service", grpc_port, key, small, width, 16, 2000)
        if peer is not None:
            wrk_patch("warm-up peer", peer_port, key=key, users=n, width=width, connections=16, seconds=1)
        tokens = {page: page_token(grpc_port, key, page, 20) for page in (1, 500)} if "list" not in skip else {}
        for i in range(args.rounds):
            print(f"round {i + 1}/{args.rounds}", flush=True)
            for streams in (16, 64):
                show(metered(noop.pid, measured_update, f"floor (no-op) {streams} streams", noop_port, None, None,
                             width, streams, args.requests))
                show(metered(server.pid, measured_update, f"UpdateUser gRPC {streams} streams", grpc_port, key,
                             small, width, streams, args.requests))
                if "rest" not in skip:
                    show(metered(server.pid, wrk_patch, f"REST PATCH Envoy {streams} conns", http_port, key=key,
                                 users=n, width=width, connections=streams, seconds=args.seconds))
                if peer is not None and streams == 16:
                    show(metered(peer.pid, wrk_patch, PEER, peer_port, key=key, users=n, width=width,
                                 connections=streams, seconds=args.seconds))
            for page, token in tokens.items():
                body = grpc_body(user_service_pb2.ListUsersRequest(page_size=20, page_token=token))
                show(h2load(f"ListUsers page {page} (size 20)", grpc_port, LIST, body, key=key, streams=16,
                            requests=args.requests // 3))
            if "password" not in skip:
                show(measured_update("UpdateUser 16 streams, idle", grpc_port, key, small, width, 16,
                                     args.requests))
                with PasswordChurn(grpc_port, key, width) as churn:
                    r = measured_update("UpdateUser 16, 4 pw changers", grpc_port, key, small, width, 16,
                                        args.requests)
                r.note += f", password changes {churn.done}, errors {len(churn.errors)}"
                show(r)
    if "postgres" not in skip:  # docs/benchmarks.md, "PostgreSQL"
        from bench import postgres

        def show_pg(r: Result) -> None:
            print(f"  {r.name:<44} {r.rps:>8.0f} req/s  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms  "
                  f"n={r.requests} failed={r.failed} {r.note}", flush=True)

        pg = postgres.run(run_dir, small, key, rounds=args.pg_rounds, requests=args.requests // 3,
                          seconds=max(3, args.seconds // 2), show=show_pg, server=args.postgres)
        if pg:
            (run_dir / "postgres.json").write_text(json.dumps(
                {name: [asdict(x) for x in runs] for name, runs in pg.items()}, indent=2))
    if "big" not in skip and args.big:
        big, took = million_db(args.big, password_hash)
        print(f"{args.big} users: " + (f"built in {took:.1f}s" if took else "cached"), flush=True)
        big_key = dataset.admin_key(big)
        big_width = dataset.digits(args.big)
        sizes = (("10k", small, key, width), (f"{args.big // 1000}k", big, big_key, big_width))
        with ExitStack() as servers:  # both up at once (the idle one costs nothing), measured in turn
            ports = []
            for label, db, k, w in sizes:
                port = free_port()
                servers.enter_context(serve(db, port, None, run_dir / f"serve-{label}.log"))
                check_grpc(port, k, w)
                measured_update(f"warm-up {label}", port, k, db, w, 16, 2000)
                ports.append(port)
            for i in range(args.rounds):
                print(f"round {i + 1}/{args.rounds}", flush=True)
                for (label, db, k, w), port in zip(sizes, ports, strict=True):
                    show(measured_update(f"UpdateUser 16 streams, {label} users", port, k, db, w, 16,
                                         args.requests))
    steal, total = (b - a for a, b in zip(start_cpu, cpu_times(), strict=True))
    print(f"\nCPU steal during the run: {100 * steal / max(total, 1):.1f}% of the machine's CPU time "
          "(time the hypervisor gave to other guests; absolute figures drop with it, ratios much less)")
    report(results, run_dir, args.rounds, cpu)
    return 0


def cpu_times() -> tuple[int, int]:
    """(steal, total) jiffies of the machine (``bench.cpu.cpu_line``): how much CPU the hypervisor took away."""
    fields = cpu_line()
    return fields[7], sum(fields[:8])


def ratios(results: dict[str, list[Result]], a: str, b: str, field: str = "rps") -> list[float]:
    """``a``'s ``field`` / ``b``'s, round by round (empty: not measured)."""
    if a not in results or b not in results:
        return []
    return [getattr(x, field) / getattr(y, field) for x, y in zip(results[a], results[b], strict=True)]


def ratio(results: dict[str, list[Result]], a: str, b: str, field: str = "rps") -> float | None:
    """The median over rounds of ``a``'s ``field`` / ``b``'s in the same round (None: not measured)."""
    found = ratios(results, a, b, field)
    return statistics.median(found) if found else None


def print_cpu(cpu: dict[str, list[dict[str, float]]]) -> None:
    """Where each call's CPU went (medians over rounds), and what REST / gRPC would be if both were CPU-bound."""
    roles = ("server", "writer", "envoy", "load")
    med = {name: {k: statistics.median(r.get(k, 0.0) for r in rounds) for k in (*roles, "cores", "steal")}
           for name, rounds in cpu.items()}
    print("\n| CPU us per call (medians) | server | writer | envoy | load generator | all | machine busy (cores) "
          "| steal (cores) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, m in med.items():
        print(f"| {name} | {m['server']:.0f} | {m['writer']:.0f} | {m['envoy']:.0f} | {m['load']:.0f} | "
              f"{sum(m[k] for k in roles):.0f} | {m['cores']:.2f} | {m['steal']:.2f} |")
    floor, grpc, rest = (cpu.get(name) for name in ("floor (no-op) 16 streams", "UpdateUser gRPC 16 streams",
                                                     "REST PATCH Envoy 16 conns"))

    def service(r: dict[str, float], *parts: str) -> float:
        return sum(r.get(k, 0.0) for k in parts)

    if floor and grpc and rest:  # issue 20's goals: the service's own CPU, medians of per-round ratios
        over_floor = statistics.median(service(g, "server", "writer") / service(f, "server")
                                       for f, g in zip(floor, grpc, strict=True))
        over_grpc = statistics.median(service(r, "server", "writer", "envoy") / service(g, "server", "writer")
                                      for g, r in zip(grpc, rest, strict=True))
        print(f"\nCPU per call of the service's processes (medians of per-round ratios): gRPC UpdateUser (server +"
              f" writer) / the floor's server: {over_floor:.2f} (goal <= 2.5); REST PATCH (server + writer +"
              f" Envoy) / gRPC UpdateUser: {over_grpc:.2f} (goal <= 1.4)")
    grpc_call, rest_call = med.get("UpdateUser gRPC 16 streams"), med.get("REST PATCH Envoy 16 conns")
    if grpc_call and rest_call:
        bound = sum(grpc_call[k] for k in roles) / sum(rest_call[k] for k in roles)
        print(f"\nREST / gRPC at 16 if both used the whole machine: {bound:.2f} (all CPU of a gRPC call / of a REST "
              "call): the 0.8 goal needs Envoy and wrk to cost at most a quarter of a gRPC call's CPU.")


def median_result(runs: list[Result]) -> Result:
    """One row for a measurement taken once per round: the median of each figure, failures summed."""
    first = runs[0]
    return Result(first.name, sum(r.requests for r in runs), statistics.median(r.rps for r in runs),
                  statistics.median(r.p50_ms for r in runs), statistics.median(r.p99_ms for r in runs),
                  sum(r.failed for r in runs), "; ".join(r.note for r in runs if r.note))


def report(results: dict[str, list[Result]], run_dir: Path, rounds: int,
           cpu: dict[str, list[dict[str, float]]] | None = None) -> None:
    goals = []

    def goal(text: str, value: float | None, ok: bool | None) -> None:
        if value is not None:
            goals.append((text, value, ok))

    r = {name: median_result(runs) for name, runs in results.items()}
    x = ratio(results, "UpdateUser gRPC 16 streams", "floor (no-op) 16 streams")
    goal("UpdateUser/floor at 16 streams >= 0.5", x, x is not None and x >= 0.5)
    if "UpdateUser gRPC 16 streams" in r:
        p99 = r["UpdateUser gRPC 16 streams"].p99_ms
        goal("UpdateUser p99 at 16 streams <= 20 ms", p99, p99 <= 20)
    x = ratio(results, "UpdateUser gRPC 64 streams", "floor (no-op) 64 streams")
    goal("UpdateUser/floor at 64 streams (no goal)", x, None)
    x = ratio(results, "REST PATCH Envoy 16 conns", "UpdateUser gRPC 16 streams")
    goal("REST/gRPC at 16 >= 0.8", x, x is not None and x >= 0.8)
    if "REST PATCH Envoy 16 conns" in r:
        p99 = r["REST PATCH Envoy 16 conns"].p99_ms
        goal("REST p99 at 16 conns <= 25 ms", p99, p99 <= 25)
    x = ratio(results, "REST PATCH Envoy 64 conns", "UpdateUser gRPC 64 streams")
    goal("REST/gRPC at 64 (no goal)", x, None)
    peer = ratios(results, "REST PATCH Envoy 16 conns", PEER)
    if peer:  # issue 20: in every round, so the lowest of them
        goal("REST/FastAPI peer at 16, lowest round >= 4", min(peer), min(peer) >= 4)
    big = [k for k in r if k.startswith("UpdateUser 16 streams, ") and k.endswith("k users") and "10k" not in k]
    if big:
        x = ratio(results, big[0], "UpdateUser 16 streams, 10k users")
        goal("big/10k users throughput >= 0.9", x, x is not None and x >= 0.9)
    x = ratio(results, "ListUsers page 1 (size 20)", "ListUsers page 500 (size 20)")
    goal("ListUsers page 500 time / page 1 time <= 1.5", x, x is not None and x <= 1.5)
    x = ratio(results, "UpdateUser 16, 4 pw changers", "UpdateUser 16 streams, idle", "p99_ms")
    goal("p99 with password changes / idle <= 2", x, x is not None and x <= 2)
    print(f"\nEach row: medians over {rounds} rounds (requests and failures summed). Each goal ratio: the median"
          " of the ratios taken within each round.")
    print("\n| measurement | req/s | p50 ms | p99 ms | failed | note |\n|---|---:|---:|---:|---:|---|")
    for res in r.values():
        print(f"| {res.name} | {res.rps:,.0f} | {res.p50_ms:.2f} | {res.p99_ms:.2f} | {res.failed} | {res.note} |")
    print("\n| goal | measured | met |\n|---|---:|---|")
    for text, value, ok in goals:
        print(f"| {text} | {value:.2f} | {'-' if ok is None else ('yes' if ok else 'NO')} |")
    if cpu:
        print_cpu(cpu)
    data = {"results": {name: [asdict(x) for x in runs] for name, runs in results.items()}, "goals": goals,
            "rounds": rounds, "time": time.strftime("%Y-%m-%d %H:%M")}
    for path in (run_dir / "results.json", RESULTS / "last.json"):
        path.write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    sys.exit(main())
