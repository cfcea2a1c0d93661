"""Where UpdateUser's time goes under load: the service with one part removed at a time, against the floor.

    .venv/bin/python -m bench.decompose [--rounds 5] [--requests 10000] [VARIANT ...]

A VARIANT is ``-`` (the service as shipped) or parts to remove joined by ``+`` (``writer``, ``etag``,
``audit``, ``log``, ``store``, ``interceptor``); see ``bench.variant_server``. Every variant runs as its own
server on its own
copy of the 10,000-user database, without Envoy; each round measures the floor, then each variant, with
h2load at 16 streams (as ``make bench``). For each it reads CPU time from /proc: the server's whole process
tree (its writer process included), the server's main thread, which runs its event loop and bounded the
throughput of the one-process service, and the machine's busy cores. It prints per-round figures and, at
the end, the medians. Figures move a lot between rounds on a shared machine: compare medians of one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

from bench import dataset
from bench.cpu import Meter
from bench.run import free_port, measured_update, new_run, noop_floor, serve, serve_checkout

DEFAULT = ["-", "writer", "etag", "log", "store", "store+writer", "store+writer+interceptor+etag"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--against", type=Path, action="append", default=[],
                        help="also serve the checkout at this path (e.g. a `git worktree` of an older commit), "
                             "in the same rounds: an old-against-new A/B")
    parser.add_argument("variants", nargs="*", default=DEFAULT)
    args = parser.parse_args(argv)
    run_dir, template = new_run("decompose")
    width = dataset.digits(10_000)
    rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))

    def measure(name: str, pid: int, port: int, key: str | None, db: Path | None) -> float:
        with Meter(pid) as meter:
            result = measured_update(name, port, key, db, width, 16, args.requests)
        total = sum(seconds for role, seconds in meter.seconds.items() if role != "load")  # the server's tree
        row = rows[name]
        row["rps"].append(result.rps)
        row["cpu_us"].append(total * 1e6 / args.requests)
        row["main_us"].append(meter.main_thread * 1e6 / args.requests)
        row["busy"].append(meter.cores)
        print(f"  {name:26} {result.rps:7.0f} req/s  p99 {result.p99_ms:5.1f} ms  CPU/call {row['cpu_us'][-1]:4.0f}"
              f" us  main thread {row['main_us'][-1]:4.0f} us  machine busy {meter.cores:.2f} cores  {result.note}",
              flush=True)
        return result.rps

    with ExitStack() as stack:
        floor_port = free_port()
        floor = stack.enter_context(noop_floor(floor_port, run_dir))
        servers = []
        logs: list[tuple[str, Path]] = []
        for variant in args.variants:
            label = "service" if variant == "-" else " ".join(
                "without " + part for part in variant.split("+"))
            db = run_dir / f"{label.replace(' ', '-').replace('+', '-')}.db"
            shutil.copy(template, db)
            key = dataset.admin_key(db)
            port = free_port()
            env_remove = "" if variant == "-" else variant.replace("+", ",")
            os.environ["BENCH_REMOVE"] = env_remove
            proc = stack.enter_context(serve(db, port, None, db.with_suffix(".log"),
                                             command=[sys.executable, "-m", "bench.variant_server"]))
            # Without the store nothing is written, so there are no audit rows to check grpc-status against.
            servers.append((label, proc.pid, port, key, None if "store" in variant or "audit" in variant else db))
            logs.append((label, db.with_suffix(".log")))
        os.environ.pop("BENCH_REMOVE", None)
        for tree in args.against:  # another checkout's `userservice serve`, its writer process included
            label = f"checkout {tree.name}"
            db = run_dir / f"{tree.name}.db"
            shutil.copy(template, db)
            key = dataset.admin_key(db)
            port = free_port()
            proc = stack.enter_context(serve_checkout(tree, db, port, None, db.with_suffix(".log")))
            servers.append((label, proc.pid, port, key, db))
        measured_update("warm-up", floor_port, None, None, width, 16, 2000)
        for _label, _, port, key, db in servers:
            measured_update("warm-up", port, key, db, width, 16, 2000)
        for i in range(args.rounds):
            print(f"round {i + 1}/{args.rounds}", flush=True)
            floor_rps = measure("floor (no-op)", floor.pid, floor_port, None, None)
            for label, pid, port, key, db in servers:
                rows[label]["ratio"].append(measure(label, pid, port, key, db) / floor_rps)
    print("\n| server (16 streams) | req/s | main thread us/call | process CPU us/call | machine busy (cores)"
          " | / floor |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, row in rows.items():
        ratio = f"{statistics.median(row['ratio']):.2f}" if row["ratio"] else "1"
        print(f"| {label} | {statistics.median(row['rps']):,.0f} | {statistics.median(row['main_us']):.0f} | "
              f"{statistics.median(row['cpu_us']):.0f} | {statistics.median(row['busy']):.2f} | {ratio} |")
    for label, log in logs:  # the ``sections`` experiment: the median of each part over its log's lines
        figures: dict[str, list[float]] = defaultdict(list)
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("sections"):
                for part in line.split(": ", 1)[1].split(", "):
                    name, value = part.rsplit(" ", 1)
                    figures[name].append(float(value))
        if figures:
            print(f"\n{label}, thread CPU us per update (medians of {len(figures['begin'])} lines of the log): "
                  + ", ".join(f"{name} {statistics.median(values):.0f}" for name, values in figures.items()))
    print(f"\nmedians of {args.rounds} rounds, {args.requests} calls each; results in {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
