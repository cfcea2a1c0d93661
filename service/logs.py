"""JSON-lines logging. Only what is passed in ``extra`` is written: never a password, hash or key."""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import logging
import os
import sys
import time

#: The ``extra`` names a record may carry (the per-call access line is written by ``access`` instead).
FIELDS = ("method", "code", "event", "port", "error")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": f"{_second(int(record.created))}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
            "pid": record.process,  # replicas (serve --replicas N) share one stderr
        }
        for name in FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
            tb = record.exc_info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None:  # where it happened, never the message (it may hold values)
                line["where"] = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        return json.dumps(line)


def access(method: str, code: str, latency_ms: float, key_id: str | None) -> None:
    """One access line per call, formatted directly: it runs on every call, so no LogRecord.

    Every value is ASCII from a closed set (method and code names, hex key ids), so no escaping.
    Lines are written together, ``ACCESS_FLUSH_S`` after the first of them (or at once when
    ``ACCESS_MAX_PENDING`` wait): one ``write`` and no extra turn of the event loop for many
    calls. ``flush_access`` also runs at exit.
    """
    if not _ACCESS_ON:
        return
    now = time.time()
    key = f'"{key_id}"' if key_id else "null"
    line = (f'{{"time": "{_second(int(now))}.{int(now % 1 * 1000):03d}Z", "level": "info", "msg": "call", '
            f'"pid": {_PID}, "method": "{method}", "status": "{code}", "latency_ms": {latency_ms:.3f}, '
            f'"key_id": {key}}}\n')
    if not _PENDING:
        try:
            asyncio.get_running_loop().call_later(ACCESS_FLUSH_S, flush_access)
        except RuntimeError:  # no event loop: write it now
            sys.stderr.write(line)
            return
    _PENDING.append(line)
    if len(_PENDING) >= ACCESS_MAX_PENDING:
        flush_access()  # the timer then finds nothing to write


def flush_access() -> None:
    if _PENDING:
        lines = "".join(_PENDING)
        _PENDING.clear()
        sys.stderr.write(lines)


@functools.lru_cache(maxsize=1)
def _second(second: int) -> str:
    """The UTC time of ``second``, formatted once per second."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


#: Access lines wait at most this long, or until this many wait (measured: writing them once per turn
#: of the event loop, as before, cost about a tenth of the server's throughput under load).
ACCESS_FLUSH_S, ACCESS_MAX_PENDING = 0.05, 512
_PENDING: list[str] = []
_ACCESS_ON = False
_PID = os.getpid()
atexit.register(flush_access)


def setup(level: int = logging.INFO) -> None:
    global _ACCESS_ON
    _ACCESS_ON = level <= logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("userservice")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
