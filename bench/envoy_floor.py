"""What Envoy costs per REST call at the service's own rate, in front of a server that does nothing.

    .venv/bin/python -m bench.envoy_floor [--rounds 3] [--seconds 5]

Issue 20 asks that a REST PATCH (server + writer + Envoy) cost at most 1.4 times a gRPC UpdateUser (server +
writer). Envoy's share of that is set by Envoy, and Envoy's CPU per call grows as the rate falls (fewer
requests share each of its wakeups), so its cost in front of the no-op floor at the floor's rate says little
about its cost in front of the service. This measures it at the service's rate, with the shipped config
(``service.envoy.render``), each round, in turn:

1. the service: gRPC UpdateUser (h2load, 16 streams) and REST PATCH through its Envoy (wrk, 16 connections),
   CPU per call of the server, its writer and Envoy, as ``make bench``;
2. Envoy in front of ``bench.noop_server`` answering at once (a whole stored user, so the transcoded reply
   is the service's size);
3. the same, the no-op paced (``--delay-ms``, found by trying before the rounds) to the service's REST rate;
4. the same paced no-op, sending the initial metadata ``etag`` on transcoded calls as the service does;
5. the paced no-op again, behind an Envoy stripped to the transcoder and the router (no buffer filter, no Lua
   filter, no ``x-request-id``, no added header): what no configuration of Envoy's transcoder goes below;
6. the service's REST PATCH through such a stripped Envoy: Envoy's cost in front of the service itself, on a
   machine that the service keeps busy (in front of the paced no-op, whose machine is mostly idle, Envoy
   can cost less per call at the same rate: docs/benchmarks.md, "2026-12-04").

It prints each measurement, then the medians, and the ratio issue 20 sets as it would be if the service's
server and writer cost no more per REST call than per gRPC call: (gRPC + Envoy at the service's rate) / gRPC,
with Envoy's cost from each of 3-6; then, per round, the bound with the `etag` batch added (what it cost
the paced no-op, 4 less 3) and a stripped Envoy's cost, in front of the paced no-op (5) and of the service (6).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import grpc
import yaml
from userservice.v1 import user_service_pb2, user_service_pb2_grpc

from bench import dataset
from bench.cpu import Meter
from bench.load import Result, wrk_patch
from bench.run import free_port, measured_update, new_run, process, serve
from service import envoy as envoy_config
from service.envoy import Envoy

CONNECTIONS = 16
#: The name of the stripped Envoy in front of the service, apart from the service's own Envoy (idle then).
STRIPPED = "stripped Envoy"


def stored_user(port: int, key: str, width: int) -> bytes:
    """One user as the service answers it (its whole message), serialized."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        user = user_service_pb2_grpc.UserServiceStub(channel).GetUser(
            user_service_pb2.GetUserRequest(id=dataset.user_id(0, width)),
            metadata=(("authorization", f"Bearer {key}"),), timeout=10)
    return bytes(user.SerializeToString())


def stripped_envoy(http_port: int, grpc_port: int, config: Path) -> subprocess.Popen[bytes]:
    """Envoy with the shipped config less everything but the transcoder and the router (a bound, not a
    config anyone could ship: the 413 for a large body and the seeds' statuses go with the filters)."""
    rendered = yaml.safe_load(envoy_config.render(http_port, [grpc_port]))
    manager = rendered["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    manager["http_filters"] = [f for f in manager["http_filters"]
                               if f["name"] in ("envoy.filters.http.grpc_json_transcoder", "envoy.filters.http.router")]
    manager["generate_request_id"] = False
    for host in manager["route_config"]["virtual_hosts"]:
        for route in host["routes"]:
            route.pop("typed_per_filter_config", None)
            route.pop("request_headers_to_add", None)
    config.write_text(json.dumps(rendered))
    return subprocess.Popen([envoy_config.envoy_binary(), "-c", str(config), "--disable-hot-restart",
                             "--log-level", "warning", "--concurrency", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)


def stripped_in_front(stack: ExitStack, front: int, grpc_port: int, config: Path) -> int:
    """``stripped_envoy`` on ``front`` in front of ``grpc_port``, listening, killed by ``stack``: its pid."""
    proc = stripped_envoy(front, grpc_port, config)
    stack.callback(proc.kill)
    wait_listening(front)
    return proc.pid


def wait_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=10_000, help="h2load requests per gRPC measurement")
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per REST measurement")
    args = parser.parse_args(argv)
    n = 10_000
    run_dir, db = new_run("envoy-floor", n)
    width = dataset.digits(n)
    key = dataset.admin_key(db)
    cpu: dict[str, list[dict[str, float]]] = defaultdict(list)
    rates: dict[str, list[float]] = defaultdict(list)

    def measure(label: str, pids: dict[str, int], run: Callable[..., Result], **kwargs: Any) -> dict[str, float]:
        with ExitStack() as meters:
            by_name = {name: meters.enter_context(Meter(pid)) for name, pid in pids.items()}
            result = run(**kwargs)
        per: dict[str, float] = {}
        for name, meter in by_name.items():  # a meter's root is "server": name it by what it measured
            for role, us in meter.per_call(result.requests).items():
                if role != "load":
                    per[name if role == "server" else role] = us
        cpu[label].append(per)
        rates[label].append(result.rps)
        parts = "  ".join(f"{k} {v:4.0f}" for k, v in per.items())
        print(f"  {label:36} {result.rps:7.0f} req/s  p99 {result.p99_ms:6.1f} ms  failed {result.failed}  "
              f"us/call: {parts}", flush=True)
        return per

    def rest(port: int, seconds: int) -> Result:
        return wrk_patch("rest", port, key=key, users=n, width=width, connections=CONNECTIONS, seconds=seconds)

    with ExitStack() as stack:
        grpc_port, http_port = free_port(), free_port()
        service = stack.enter_context(serve(db, grpc_port, http_port, run_dir / "serve.log"))
        measured_update("warm-up", grpc_port, key, db, width, 16, 2000)
        rest(http_port, 1)
        service_rate = rest(http_port, args.seconds).rps
        stripped_front = free_port()
        stripped_pid = stripped_in_front(stack, stripped_front, grpc_port, run_dir / "stripped-service-envoy.json")
        rest(stripped_front, 1)
        reply = run_dir / "user.bin"
        reply.write_bytes(stored_user(grpc_port, key, width))

        def noop(stack: ExitStack, label: str, delay_ms: float, *flags: str,
                 stripped: bool = False) -> tuple[str, int, int, int]:
            port, front = free_port(), free_port()
            proc = stack.enter_context(process(
                [sys.executable, "-m", "bench.noop_server", "--port", str(port), "--reply", str(reply),
                 "--delay-ms", f"{delay_ms:.3f}", *flags], run_dir / f"noop-{label}.log", "ready"))
            if stripped:
                front_pid = stripped_in_front(stack, front, port, run_dir / "stripped-envoy.json")
            else:
                envoy = Envoy(front, [port])
                stack.callback(envoy.stop)
                envoy.wait_ready()
                front_pid = envoy.process.pid
            rest(front, 1)
            return label, front, front_pid, proc.pid

        # The pause that brings the no-op through Envoy to the service's REST rate, found by trying: with 16
        # calls in flight each takes 16 / rate, so each try moves the pause by the difference.
        delay_ms = 0.0
        for _ in range(4):
            with ExitStack() as trial:
                rate = rest(noop(trial, "trial", delay_ms)[1], 2).rps
            print(f"pacing: a pause of {delay_ms:.2f} ms gave {rate:.0f} calls/s (the service: {service_rate:.0f})",
                  flush=True)
            delay_ms = max(0.0, delay_ms + 1000 * CONNECTIONS * (1 / service_rate - 1 / rate))
        at_once = noop(stack, "at once", 0.0)
        paced = noop(stack, "paced", delay_ms)
        paced_etag = noop(stack, "paced, etag", delay_ms, "--etag")
        stripped = noop(stack, "paced, stripped Envoy", delay_ms, stripped=True)
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", flush=True)
            measure("service gRPC", {"server": service.pid}, measured_update, name="grpc", port=grpc_port,
                    key=key, db=db, width=width, streams=16, requests=args.requests)
            measure("service REST", {"server": service.pid}, rest, port=http_port, seconds=args.seconds)
            measure("service REST, stripped Envoy", {"server": service.pid, STRIPPED: stripped_pid}, rest,
                    port=stripped_front, seconds=args.seconds)
            for label, front, envoy_pid, noop_pid in (at_once, paced, paced_etag, stripped):
                measure(f"no-op {label} REST", {"envoy": envoy_pid, "no-op": noop_pid}, rest, port=front,
                        seconds=args.seconds)
    print(f"\nmedians over {args.rounds} rounds, CPU us per call:")
    med: dict[str, dict[str, float]] = {}
    for label, rounds in cpu.items():
        med[label] = {k: statistics.median(r.get(k, 0) for r in rounds) for k in rounds[0]}
        print(f"  {label:36} {statistics.median(rates[label]):7.0f} calls/s  "
              + "  ".join(f"{k} {v:4.0f}" for k, v in med[label].items()))
    grpc_us = med["service gRPC"]["server"] + med["service gRPC"].get("writer", 0)
    for label in ("no-op paced REST", "no-op paced, etag REST", "no-op paced, stripped Envoy REST"):
        envoy_us = med[label]["envoy"]
        print(f"(gRPC {grpc_us:.0f} + Envoy, {label[6:-5]}, {envoy_us:.0f}) / gRPC = "
              f"{(grpc_us + envoy_us) / grpc_us:.2f}")
    envoy_us = med["service REST, stripped Envoy"][STRIPPED]
    print(f"(gRPC {grpc_us:.0f} + the stripped Envoy in front of the service, {envoy_us:.0f}) / gRPC = "
          f"{(grpc_us + envoy_us) / grpc_us:.2f}")
    # The bound per round: gRPC + the `etag` batch (what it cost the paced no-op) + a stripped Envoy, / gRPC.
    print("per round, (gRPC + the etag batch + a stripped Envoy) / gRPC, the Envoy in front of the paced no-op; "
          "in front of the service:")
    bounds: dict[str, list[float]] = defaultdict(list)
    for r, g in enumerate(cpu["service gRPC"]):
        grpc_r = g["server"] + g.get("writer", 0)
        etag = cpu["no-op paced, etag REST"][r]["no-op"] - cpu["no-op paced REST"][r]["no-op"]
        for where, envoy_r in (("no-op", cpu["no-op paced, stripped Envoy REST"][r]["envoy"]),
                               ("service", cpu["service REST, stripped Envoy"][r][STRIPPED])):
            bounds[where].append((grpc_r + etag + envoy_r) / grpc_r)
        print(f"  round {r + 1}: gRPC {grpc_r:.0f}, etag batch {etag:.0f}: "
              f"{bounds['no-op'][-1]:.2f}; {bounds['service'][-1]:.2f}")
    print(f"  medians: {statistics.median(bounds['no-op']):.2f}; {statistics.median(bounds['service']):.2f}")
    rest_us = sum(med["service REST"].get(k, 0) for k in ("server", "writer", "envoy"))
    print(f"as measured: REST {rest_us:.0f} / gRPC {grpc_us:.0f} = {rest_us / grpc_us:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
