"""JSON-lines logging. Only what is passed in ``extra`` is written: never a password, hash or key."""

from __future__ import annotations

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
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
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
    """
    if not _ACCESS_ON:
        return
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    key = f'"{key_id}"' if key_id else "null"
    sys.stderr.write(f'{{"time": "{stamp}", "level": "info", "msg": "call", "pid": {_PID}, "method": "{method}", '
                     f'"status": "{code}", "latency_ms": {latency_ms:.3f}, "key_id": {key}}}\n')


_ACCESS_ON = False
_PID = os.getpid()


def setup(level: int = logging.INFO) -> None:
    global _ACCESS_ON
    _ACCESS_ON = level <= logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("userservice")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
