"""Checkouts against each other over gRPC and REST, with Envoy: CPU per call of each process, in one run.

    .venv/bin/python -m bench.against [--rounds 5] PATH [PATH ...]

Each PATH is a checkout (``.`` for this one, ``git worktree add ../old <commit>`` for another), served by
its own ``userservice serve`` with its own Envoy (its own ``envoy.yaml``) on its own copy of the
10,000-user database. Each round measures the no-op floor over gRPC, then each checkout over gRPC
(h2load, 16 streams, as ``make bench``) and over REST (wrk PATCH through its Envoy, 16 connections).
It prints per-round figures and the medians of the two ratios issue 20 sets, taken within each round:
gRPC UpdateUser (server + writer) / the floor's server, and REST PATCH (server + writer + Envoy) /
gRPC UpdateUser (server + writer). ``bench.decompose`` is the gRPC-only variant of this (parts removed).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import dataset
from bench.cpu import Meter
from bench.load import Result, wrk_patch
from bench.run import free_port, measured_update, new_run, noop_floor, serve_checkout

SERVICE_ROLES = ("server", "writer", "envoy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10_000, help="h2load requests per gRPC measurement")
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per REST measurement")
    parser.add_argument("checkouts", nargs="+", type=Path)
    args = parser.parse_args(argv)
    n = 10_000
    run_dir, template = new_run("against", n)
    width = dataset.digits(n)
    cpu: dict[str, list[dict[str, float]]] = defaultdict(list)  # measurement -> per round, us per call by role
    ratios: dict[str, list[float]] = defaultdict(list)

    def measure(label: str, pid: int, run: Callable[..., Result], **kwargs: Any) -> dict[str, float]:
        with Meter(pid) as meter:
            result = run(**kwargs)
        per = meter.per_call(result.requests)
        cpu[label].append(per)
        roles = "  ".join(f"{role} {per.get(role, 0):4.0f}" for role in SERVICE_ROLES)
        print(f"  {label:28} {result.rps:7.0f} req/s  p99 {result.p99_ms:6.1f} ms  failed {result.failed}  "
              f"us/call: {roles}", flush=True)
        return per

    with ExitStack() as stack:
        floor_port = free_port()
        floor = stack.enter_context(noop_floor(floor_port, run_dir))
        servers = []
        for i, tree in enumerate(args.checkouts):
            label = f"{i}:{tree.resolve().name}"
            db = run_dir / f"checkout-{i}.db"
            shutil.copy(template, db)
            key = dataset.admin_key(db)
            grpc_port, http_port = free_port(), free_port()
            proc = stack.enter_context(serve_checkout(tree, db, grpc_port, http_port, db.with_suffix(".log")))
            servers.append((label, proc.pid, grpc_port, http_port, key, db))
        measured_update("warm-up", floor_port, None, None, width, 16, 2000)
        for _, _, grpc_port, http_port, key, db in servers:
            measured_update("warm-up", grpc_port, key, db, width, 16, 2000)
            wrk_patch("warm-up", http_port, key=key, users=n, width=width, connections=16, seconds=1)
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", flush=True)
            floor_us = measure("floor (no-op) gRPC", floor.pid, measured_update, name="floor", port=floor_port,
                               key=None, db=None, width=width, streams=16, requests=args.requests)["server"]
            for label, pid, grpc_port, http_port, key, db in servers:
                g = measure(f"{label} gRPC", pid, measured_update, name=label, port=grpc_port, key=key, db=db,
                            width=width, streams=16, requests=args.requests)
                h = measure(f"{label} REST", pid, wrk_patch, name=label, port=http_port, key=key, users=n,
                            width=width, connections=16, seconds=args.seconds)
                grpc_us = g["server"] + g.get("writer", 0)
                ratios[f"{label} gRPC / floor"].append(grpc_us / floor_us)
                ratios[f"{label} REST / gRPC"].append(sum(h.get(role, 0) for role in SERVICE_ROLES) / grpc_us)
    print(f"\nmedians over {args.rounds} rounds, CPU us per call:")
    for name, rounds in cpu.items():
        print(f"  {name:28} " + "  ".join(f"{role} {statistics.median(r.get(role, 0) for r in rounds):4.0f}"
                                          for role in (*SERVICE_ROLES, "load")))
    print("medians of per-round ratios:")
    for name, values in ratios.items():
        print(f"  {name:28} {statistics.median(values):.2f}   (rounds: {', '.join(f'{v:.2f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
