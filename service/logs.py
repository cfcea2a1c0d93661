"""JSON-lines logging. Only what is passed in ``extra`` is written: never a password, hash or key."""

from __future__ import annotations

import json
import logging
import sys
import time

FIELDS = ("method", "code", "latency_ms", "key_id", "tenant", "event", "port", "pid", "error")


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


def setup(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("userservice")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
