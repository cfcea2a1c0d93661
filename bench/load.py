"""Load drivers: h2load for gRPC (a length-prefixed protobuf body file), wrk for REST (a Lua script).

h2load sends the same body file for every request but reads it with ``pread`` each time, so a
``Rotator`` thread rewrites fixed-width digit runs in the file (user id, new values) while h2load
runs: the calls spread over many users and really change them. Any digit-by-digit mix of two
valid values is valid (see ``bench.dataset``), so a torn read is harmless.

h2load and wrk count HTTP statuses; a gRPC error rides on HTTP 200, so callers verify grpc-status
separately (audit rows written, sampled calls).
"""

from __future__ import annotations

import os
import random
import re
import struct
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import Message

H2LOAD_TIMEOUT = 120.0


@dataclass
class Result:
    name: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    failed: int = 0
    note: str = ""


def grpc_body(request: Message) -> bytes:
    raw = request.SerializeToString()
    return b"\0" + struct.pack(">I", len(raw)) + raw


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[i]


class Rotator:
    """Rewrites digit runs of a body file in place, every ``period`` seconds, until stopped."""

    def __init__(self, path: Path, runs: list[tuple[bytes, int]], period: float = 0.0005) -> None:
        """``runs``: (a prefix in the body, how many digits follow it); every occurrence is rotated."""
        data = path.read_bytes()
        self.path, self.period = path, period
        self.regions: list[tuple[int, int]] = []
        for prefix, width in runs:
            for m in re.finditer(re.escape(prefix), data):
                self.regions.append((m.end(), width))
        if not self.regions:
            raise ValueError("no region to rotate")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)
        try:
            while not self._stop.wait(self.period):
                for offset, width in self.regions:
                    os.pwrite(fd, str(random.randrange(10 ** width)).zfill(width).encode(), offset)
        finally:
            os.close(fd)

    def __enter__(self) -> Rotator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def h2load(name: str, port: int, method: str, body: bytes, *, key: str | None, streams: int, requests: int,
           rotate: list[tuple[bytes, int]] = (), connections: int = 1) -> Result:  # type: ignore[assignment]
    """``requests`` gRPC calls of ``method`` over ``connections`` connection(s), ``streams`` at a time in all."""
    with tempfile.TemporaryDirectory(prefix="bench-h2load-") as tmp:
        body_path, log_path = Path(tmp) / "body.bin", Path(tmp) / "requests.log"
        body_path.write_bytes(body)
        args = ["h2load", "-n", str(requests), "-c", str(connections), "-m", str(streams // connections),
                "-t", "1", "-d", str(body_path), "-H", "content-type: application/grpc", "-H", "te: trailers",
                f"--log-file={log_path}", f"http://127.0.0.1:{port}{method}"]
        if key:
            args[1:1] = ["-H", f"authorization: Bearer {key}"]
        if rotate:
            with Rotator(body_path, list(rotate)):
                out = subprocess.run(args, capture_output=True, text=True, timeout=H2LOAD_TIMEOUT, check=True)
        else:
            out = subprocess.run(args, capture_output=True, text=True, timeout=H2LOAD_TIMEOUT, check=True)
        rps = float(re.search(r"finished in [^,]+, ([\d.]+) req/s", out.stdout).group(1))  # type: ignore[union-attr]
        durations, failed = [], 0
        for line in log_path.read_text().splitlines():
            _, status, micros = line.split("\t")
            durations.append(int(micros) / 1000)
            failed += status != "200"
        durations.sort()
        return Result(name, len(durations), rps, percentile(durations, 50), percentile(durations, 99), failed)


WRK_SCRIPT = """
local key, users, width = "%(key)s", %(users)d, %(width)d
local headers = {["content-type"] = "application/json", ["authorization"] = "Bearer " .. key}
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
request = function()
  local id = string.format("usr_bench%%0" .. width .. "d", math.random(0, users - 1))
  local n = math.random(0, 99999999)
  local body = string.format('{"displayName":"Name %%08d","givenName":"Given %%08d"}', n, n)
  return wrk.format("PATCH", "/v1/users/" .. id .. "?updateMask=displayName,givenName", headers, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.status, summary.errors.timeout
    + summary.errors.connect + summary.errors.read + summary.errors.write))
end
"""


def wrk_patch(name: str, port: int, *, key: str, users: int, width: int, connections: int,
              seconds: int) -> Result:
    """REST PATCH of two masked fields of random users, for ``seconds``, over ``connections`` connections."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / "patch.lua"
        script.write_text(WRK_SCRIPT % {"key": key, "users": users, "width": width})
        out = subprocess.run(["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "5s",
                              "-s", str(script), f"http://127.0.0.1:{port}"],
                             capture_output=True, text=True, timeout=seconds + 60, check=True)
    fields = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", out.stdout)
    if fields is None:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    count, micros, p50, p99, bad_status, errors = (int(g) for g in fields.groups())
    return Result(name, count, count / (micros / 1e6), p50 / 1000, p99 / 1000, bad_status + errors)
