"""``make bench``'s PostgreSQL section: the service on PostgreSQL against PostgreSQL's own floor, in one run.

On a fresh database of 10,000 users (tenant ``bench``, as the SQLite runs), every round measures, one
after another, at 16 concurrent streams or connections:
- the floor: ``pgbench -c16 -j2`` running the service's own UpdateUser transaction (the ``SELECT ...
  FOR UPDATE`` of the row, the ``UPDATE`` of two columns, etag and update time, the audit ``INSERT``,
  ``COMMIT``: the statements the store sends, as its statement cache renders them), on the same tables,
  twice: as prepared statements (``-M prepared``: how the service sends them since 2026-12-03) and in
  the simple protocol (``-M simple``: how it sent them before, the floor the issue measured against);
- the same service on SQLite (the 10,000-user file of the run), gRPC;
- PostgreSQL with every database call inline on the event loop (``bench.variant_server``'s
  ``threads`` part removed, no writer process: the server before issue 16), gRPC: the A/B for
  ``service.dbthreads``;
- PostgreSQL, 1 replica: gRPC straight to it, and REST (PATCH) through Envoy;
- PostgreSQL, 1 replica with ``--no-writer-process`` (writes on the server's own threads, as before
  2026-12-03), gRPC: the A/B for the writer process;
- PostgreSQL, 1 replica with ``?prepared_statements=false``, gRPC: the A/B for prepared statements;
- PostgreSQL, ``--replicas 2``: gRPC and REST, both through Envoy.
Ratios are medians of per-round ratios (docs/benchmarks.md). Each row also gives where the CPU went, in
cores busy during the measurement: the service's processes, PostgreSQL's, Envoy, the load generator, and
the whole machine. Failed calls are counted from the audit rows (gRPC) and HTTP statuses (REST).
Skipped, with a line saying why, when pgbench or the PostgreSQL server (``--postgres``, default
``$USERSERVICE_TEST_POSTGRES``) is missing.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psycopg2

from bench import dataset
from bench.cpu import Meter, busy_seconds, cpu_seconds, steal_seconds
from bench.load import Result, grpc_body, h2load, percentile, wrk_patch

USERS = 10_000
STREAMS = 16
FLOOR = "pgbench floor (service's transaction, prepared)"
FLOOR_SIMPLE = "pgbench floor (the same, simple protocol)"
SQLITE = "SQLite gRPC"
INLINE = "PostgreSQL inline on the loop (before), gRPC"
ONE, ONE_REST = "PostgreSQL 1 replica gRPC", "PostgreSQL 1 replica REST"
UNPREPARED = "PostgreSQL 1 replica gRPC, no prepared statements"
ONE_PROCESS = "PostgreSQL 1 replica gRPC, no writer process"
TWO, TWO_REST = "PostgreSQL 2 replicas gRPC (Envoy)", "PostgreSQL 2 replicas REST"


def server_url() -> str:
    return os.environ.get("USERSERVICE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def fresh_database(server: str) -> Iterator[str]:
    name = f"userservice_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conn = psycopg2.connect(server)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE DATABASE "{name}"')
    conn.close()
    try:
        yield server.split("?", 1)[0].rsplit("/", 1)[0] + "/" + name
    finally:
        conn = psycopg2.connect(server)
        conn.autocommit = True
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def query(url: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()
    finally:
        conn.close()


def postmaster(url: str) -> int | None:
    """The PostgreSQL server's main process (its backends are its children), if this machine runs it."""
    backend = query(url, "SELECT pg_backend_pid()")[0]
    try:
        status = Path(f"/proc/{backend}/status").read_text()
    except OSError:
        return None
    return int(re.search(r"PPid:\s+(\d+)", status).group(1))  # type: ignore[union-attr]


def audited(url: str) -> int:
    return int(query(url, "SELECT count(*) FROM user_changes WHERE method = 'UpdateUser'")[0])


def transaction_statements() -> tuple[str, str, str]:
    """The statements of one UpdateUser of two columns, as the store renders them, each value a ``%s``: the
    locked read of the row, the ``UPDATE`` (the two columns, update time, etag), the audit ``INSERT``."""
    from service.storage.models import USER_COLUMNS

    columns = ", ".join(f'"t1"."{c}"' for c in USER_COLUMNS)
    return (f'SELECT {columns} FROM "users" AS "t1" WHERE (("t1"."tenant_id" = %s) AND ("t1"."id" = %s)) FOR UPDATE',
            'UPDATE "users" SET "display_name" = %s, "given_name" = %s, "update_time" = %s, "etag" = %s '
            'WHERE ("users"."seq" = %s)',
            'INSERT INTO "user_changes" ("tenant_id", "user_id", "key_id", "method", "paths", "old_values", '
            '"new_values", "change_time") VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING "user_changes"."seq"')


def group_select(size: int) -> str:
    """The locked read of a group of ``size`` users (``Users.run_many``), as the store renders it."""
    select, one = transaction_statements()[0], '(("t1"."tenant_id" = %s) AND ("t1"."id" = %s))'
    either = functools.reduce(lambda rows, row: f"({rows} OR {row})", [one] * size)  # models.any_of
    return select.replace(f"{one} FOR UPDATE", f"{either} FOR UPDATE SKIP LOCKED")


def pgbench_script(url: str, width: int) -> str:
    """The service's UpdateUser transaction, for pgbench: a random user of the 10,000, two columns."""
    tenant, base = query(url, "SELECT min(tenant_id), min(seq) FROM users")
    user = f"'usr_bench' || lpad(:n::text, {width}, '0')"
    now = "(extract(epoch from now()) * 1000000)::bigint"
    select, update, insert = transaction_statements()
    return "\n".join([
        f"\\set n random(0, {USERS - 1})",
        "BEGIN;",
        select % (tenant, user) + ";",
        update % ("'Name ' || :n", "'Given ' || :n", now, '\'"pgbenchetag00000"\'', f":n + {base}") + ";",
        insert % (tenant, user, "'pgbench'", "'pgbench'", "'[\"display_name\", \"given_name\"]'",
                  "'{\"display_name\": \"Bench User\", \"given_name\": \"\"}'",
                  "'{\"display_name\": \"Name\", \"given_name\": \"Given\"}'", now) + ";",
        "COMMIT;", ""])


def pgbench(url: str, script: Path, seconds: int, *, prepared: bool = True) -> Result:
    """``pgbench -c16 -j2`` running ``script`` for ``seconds``; latencies from its per-transaction log."""
    with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as tmp:
        out = subprocess.run(["pgbench", "-n", "-c", str(STREAMS), "-j", "2", "-T", str(seconds), "-f", str(script),
                              "-M", "prepared" if prepared else "simple",
                              "-l", f"--log-prefix={tmp}/log", url],
                             capture_output=True, text=True, timeout=seconds + 60, check=True)
        tps = float(re.search(r"tps = ([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]
        failed = int(m.group(1)) if (m := re.search(r"number of failed transactions: (\d+)", out.stdout)) else 0
        durations = sorted(int(line.split()[2]) / 1000 for log in Path(tmp).glob("log*")
                           for line in log.read_text().splitlines())
    name = FLOOR if prepared else FLOOR_SIMPLE
    return Result(name, len(durations), tps, percentile(durations, 50), percentile(durations, 99), failed)


def userservice(url: str, log: Path, *, http_port: int | None, replicas: int = 1,
                variant: str = "", checkout: Path | None = None, extra: tuple[str, ...] = ()) -> Any:
    """``userservice serve`` on ``url`` (``variant``: bench.variant_server with BENCH_REMOVE=variant;
    ``checkout``: another checkout's ``service.cli``, every process of it on its own code; ``extra``: more
    arguments of ``serve``)."""
    from bench.run import BIN, CHECKOUT_COMMAND, checkout_env, free_port, process

    env = {**(checkout_env(checkout) if checkout is not None else os.environ), "BENCH_REMOVE": variant}
    command = [sys.executable, "-m", "bench.variant_server"] if variant else [str(BIN / "userservice")]
    if checkout is not None:
        command = CHECKOUT_COMMAND
    args = [*command, "serve", "--database", url, "--grace", "2", "--replicas", str(replicas),
            "--grpc-port", "0" if replicas > 1 else str(free_port()), *extra]
    args += ["--http-port", str(http_port)] if http_port else ["--no-envoy"]
    return process(args, log, "userservice: gRPC on", env=env)


def grpc_port(log: Path) -> int:
    line = next(line for line in log.read_text().splitlines() if line.startswith("userservice: gRPC on"))
    return int(re.search(r"gRPC on [\d.]+:(\d+)", line).group(1))  # type: ignore[union-attr]


class Cores:
    """Cores busy during a block: by the service's processes, PostgreSQL's, Envoy, the load generator, all;
    and the cores the hypervisor took (steal).

    PostgreSQL's backends come and go (pgbench's exit before the block ends), so its processes are
    sampled every 0.2 s and each counts with the last CPU time seen.
    """

    def __init__(self, root: int | None, pg: int | None) -> None:
        self.root, self.pg = root, pg
        self.cores: dict[str, float] = {}
        self._seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def _pg_seconds(self) -> dict[int, float]:
        found: dict[int, float] = {}
        if self.pg:
            with contextlib.suppress(OSError):
                children = Path(f"/proc/{self.pg}/task/{self.pg}/children").read_text().split()
                for p in [self.pg, *map(int, children)]:  # the backends are the postmaster's children
                    with contextlib.suppress(OSError):
                        found[p] = sum(cpu_seconds(p).values())
        return found

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self._seen.update(self._pg_seconds())

    def __enter__(self) -> Cores:
        self._pg = self._pg_seconds()
        self._sampler.start()
        self._meter = Meter(self.root).__enter__() if self.root else None
        self._load = _load_seconds()
        self._busy, self._steal, self._wall = busy_seconds(), steal_seconds(), time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.monotonic() - self._wall
        self._stop.set()
        self._sampler.join()
        self._seen.update(self._pg_seconds())
        self.cores = {"machine": (busy_seconds() - self._busy) / wall, "load": (_load_seconds() - self._load) / wall,
                      "steal": (steal_seconds() - self._steal) / wall}
        if self._meter is not None:
            self._meter.__exit__(None, None, None)
            s = self._meter.seconds
            self.cores["service"] = (s.get("server", 0) + s.get("writer", 0) + s.get("other", 0)) / wall
            self.cores["envoy"] = s.get("envoy", 0) / wall
            self.cores["load"] = s.get("load", 0) / wall
        if self.pg:
            self.cores["postgres"] = sum(t - self._pg.get(p, 0.0) for p, t in self._seen.items()) / wall


def _load_seconds() -> float:
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(run_dir: Path, sqlite_db: Path, sqlite_key: str, *, rounds: int, requests: int, seconds: int,
        show: Callable[[Result], None], server: str | None = None,
        against: list[Path] | None = None) -> dict[str, list[Result]] | None:
    """The section; returns its results by name (rounds in order), or None when it cannot run here.
    ``against``: other checkouts, each also served as 1 replica and measured over gRPC in the same rounds."""
    from service.passwords import make_context

    server = server or server_url()
    if shutil.which("pgbench") is None or subprocess.run(["pgbench", "--version"], capture_output=True).returncode:
        print("PostgreSQL section skipped: no pgbench (make bench installs postgresql-client and -contrib)",
              flush=True)
        return None
    try:
        query(server, "SELECT 1")
    except psycopg2.Error as err:
        print(f"PostgreSQL section skipped: {server} does not answer ({str(err).strip()})", flush=True)
        return None
    from bench.run import free_port, update_request

    width = dataset.digits(USERS)
    results: dict[str, list[Result]] = {}
    cores: dict[str, list[dict[str, float]]] = {}
    with fresh_database(server) as url, ExitStack() as stack:
        took = dataset.build_postgres(url, USERS, make_context().hash(dataset.PASSWORD))
        print(f"\n== PostgreSQL: {USERS} users in a fresh database ({took:.1f}s)", flush=True)
        key = dataset.admin_key(url)
        script = run_dir / "pgbench-update.sql"
        script.write_text(pgbench_script(url, width))
        pg = postmaster(url)
        from bench.run import serve

        sqlite_port = free_port()
        sqlite = stack.enter_context(serve(sqlite_db, sqlite_port, None, run_dir / "pg-sqlite.log"))
        inline = stack.enter_context(userservice(url, run_dir / "pg-inline.log", http_port=None, variant="threads",
                                                 extra=("--no-writer-process",)))
        one_process = stack.enter_context(userservice(url, run_dir / "pg-one-process.log", http_port=None,
                                                      extra=("--no-writer-process",)))
        one_http, two_http = free_port(), free_port()
        one = stack.enter_context(userservice(url, run_dir / "pg-1.log", http_port=one_http))
        unprepared = stack.enter_context(userservice(f"{url}?prepared_statements=false", run_dir / "pg-simple.log",
                                                     http_port=None))
        two = stack.enter_context(userservice(url, run_dir / "pg-2.log", http_port=two_http, replicas=2))
        ports = {SQLITE: sqlite_port, INLINE: grpc_port(run_dir / "pg-inline.log"),
                 ONE: grpc_port(run_dir / "pg-1.log"), UNPREPARED: grpc_port(run_dir / "pg-simple.log"),
                 ONE_PROCESS: grpc_port(run_dir / "pg-one-process.log"), TWO: two_http}
        roots: dict[str, int | None] = {
            SQLITE: sqlite.pid, INLINE: inline.pid, ONE: one.pid, ONE_REST: one.pid, TWO: two.pid, TWO_REST: two.pid,
            UNPREPARED: unprepared.pid, ONE_PROCESS: one_process.pid, FLOOR: None, FLOOR_SIMPLE: None}
        checkouts = []
        for tree in against or []:  # an old-against-new A/B: the same database, the same rounds
            name = f"{ONE}, checkout {tree.name}"
            checkouts.append(name)
            log = run_dir / f"pg-{tree.name}.log"
            roots[name] = stack.enter_context(userservice(url, log, http_port=None, checkout=tree)).pid
            ports[name] = grpc_port(log)
        body = grpc_body(update_request(dataset.user_id(0, width)))
        rotate = [(b"usr_bench", width), (b"Name ", 8), (b"Given ", 8)]

        def grpc(name: str, n: int) -> Result:
            before = audited(url) if name != SQLITE else 0
            key_ = sqlite_key if name == SQLITE else key
            result = h2load(name, ports[name], "/userservice.v1.UserService/UpdateUser", body, key=key_,
                            streams=STREAMS, requests=n, rotate=rotate)
            if name != SQLITE:
                ok = audited(url) - before
                result.failed = max(result.failed, result.requests - ok)
                result.note = f"grpc OK {ok}/{result.requests}"
            return result

        def rest(name: str, port: int) -> Result:
            return wrk_patch(name, port, key=key, users=USERS, width=width, connections=STREAMS, seconds=seconds)

        measurements: list[tuple[str, Callable[[], Result]]] = [
            (FLOOR, lambda: pgbench(url, script, seconds)),
            (FLOOR_SIMPLE, lambda: pgbench(url, script, seconds, prepared=False)),
            (SQLITE, lambda: grpc(SQLITE, requests)),
            (INLINE, lambda: grpc(INLINE, requests)),
            (ONE, lambda: grpc(ONE, requests)),
            *[(name, lambda name=name: grpc(name, requests)) for name in checkouts],
            (ONE_PROCESS, lambda: grpc(ONE_PROCESS, requests)),
            (UNPREPARED, lambda: grpc(UNPREPARED, requests)),
            (ONE_REST, lambda: rest(ONE_REST, one_http)),
            (TWO, lambda: grpc(TWO, requests)),
            (TWO_REST, lambda: rest(TWO_REST, two_http)),
        ]

        for name, _ in measurements[1:]:  # warm up: connections, pools, first-call code paths
            if name in ports:
                grpc(name, 1000)
        for i in range(rounds):
            print(f"PostgreSQL round {i + 1}/{rounds}", flush=True)
            for name, measure in measurements:
                with Cores(roots[name], pg) as meter:
                    result = measure()
                cores.setdefault(name, []).append(meter.cores)
                busy = " ".join(f"{k} {v:.2f}" for k, v in meter.cores.items())
                result.note = (result.note + "; " if result.note else "") + f"cores: {busy}"
                results.setdefault(name, []).append(result)
                show(result)
    report(results, cores)
    return results


def report(results: dict[str, list[Result]], cores: dict[str, list[dict[str, float]]]) -> None:
    from bench.run import ratio  # the median of per-round ratios, as make bench's SQLite part takes it

    print("\n| PostgreSQL section, 16 streams (medians) | calls/s | p50 ms | p99 ms | failed | service cores "
          "| PostgreSQL cores | Envoy cores | load cores | machine busy | steal |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        c = {k: statistics.median(r.get(k, 0.0) for r in cores[name]) for k in
             ("service", "postgres", "envoy", "load", "machine", "steal")}
        print(f"| {name} | {statistics.median(r.rps for r in runs):,.0f} | "
              f"{statistics.median(r.p50_ms for r in runs):.2f} | {statistics.median(r.p99_ms for r in runs):.2f} | "
              f"{sum(r.failed for r in runs)} | {c['service']:.2f} | {c['postgres']:.2f} | {c['envoy']:.2f} | "
              f"{c['load']:.2f} | {c['machine']:.2f} | {c['steal']:.2f} |")
    print("\n| PostgreSQL goal (medians of per-round ratios) | measured | met |\n|---|---:|---|")

    def goal(text: str, value: float | None, ok: bool | None) -> None:
        if value is not None:
            print(f"| {text} | {value:.2f} | {'-' if ok is None else 'yes' if ok else 'NO'} |")

    def p99(name: str) -> float | None:
        return statistics.median(r.p99_ms for r in results[name]) if name in results else None

    x = ratio(results, ONE, FLOOR)
    goal("1 replica / pgbench floor (prepared, as the service sends it) >= 0.4", x, x is not None and x >= 0.4)
    x = ratio(results, ONE, FLOOR_SIMPLE)
    goal("1 replica / pgbench floor (simple protocol, the issue's) >= 0.4", x, x is not None and x >= 0.4)
    x = ratio(results, ONE, SQLITE)
    goal("1 replica PostgreSQL / SQLite >= 0.6", x, x is not None and x >= 0.6)
    x = p99(ONE)
    goal("1 replica gRPC p99 <= 30 ms", x, x is not None and x <= 30)
    x = p99(ONE_REST)
    goal("1 replica REST p99 <= 40 ms", x, x is not None and x <= 40)
    goal("threads / inline on the loop (A/B, no goal)", ratio(results, ONE, INLINE), None)
    goal("writer process / one process (A/B, no goal)", ratio(results, ONE, ONE_PROCESS), None)
    x = p99(ONE_PROCESS)
    goal("1 replica gRPC p99, no writer process (no goal)", x, None)
    goal("prepared statements / none (A/B, no goal)", ratio(results, ONE, UNPREPARED), None)
    for name in results:
        if name.startswith(f"{ONE}, checkout "):
            goal(f"1 replica / {name.split(', ', 1)[1]} (A/B, no goal)", ratio(results, ONE, name), None)
    goal("2 replicas / 1 replica, gRPC (no goal)", ratio(results, TWO, ONE), None)
    goal("2 replicas / 1 replica, REST (no goal)", ratio(results, TWO_REST, ONE_REST), None)
    goal("REST / gRPC, 1 replica (no goal)", ratio(results, ONE_REST, ONE), None)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.postgres``: this section alone (bench.run runs it in the same process as the rest)."""
    import argparse

    from service.passwords import make_context

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=5000, help="h2load requests per gRPC measurement")
    parser.add_argument("--seconds", type=int, default=4, help="pgbench and wrk seconds per measurement")
    parser.add_argument("--postgres", default=server_url())
    parser.add_argument("--against", type=Path, action="append", default=[],
                        help="also serve the checkout at this path as 1 replica (e.g. a `git worktree` of an older "
                             "commit), measured over gRPC in the same rounds: an old-against-new A/B")
    args = parser.parse_args(argv)
    from bench.run import RESULTS

    run_dir = RESULTS / time.strftime("pg-%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True)
    db = run_dir / "users-10000.db"
    dataset.build(db, USERS, make_context().hash(dataset.PASSWORD))

    def show(r: Result) -> None:
        print(f"  {r.name:<44} {r.rps:>8.0f} req/s  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms  "
              f"n={r.requests} failed={r.failed} {r.note}", flush=True)

    results = run(run_dir, db, dataset.admin_key(db), rounds=args.rounds, requests=args.requests,
                  seconds=args.seconds, show=show, server=args.postgres, against=args.against)
    if results:
        (run_dir / "postgres.json").write_text(json.dumps(
            {name: [asdict(x) for x in runs] for name, runs in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
