"""One ``Settings`` for a running service: what ``userservice serve`` was asked for, test-only knobs included.

The CLI builds it; ``service.server.serve`` and the writer process (``service.writer``) read it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    database: str = "sqlite:///data/users.db"
    grpc_port: int = 50051
    http_port: int | None = 8080  # None: no Envoy
    listen: str = "127.0.0.1"
    hash_workers: int = 1
    password_min_length: int = 8  # the shortest new password (docs/api.md, "Passwords")
    grace: float = 10.0
    busy_timeout_ms: int = 5000
    writer_process: bool = True  # writes run in a writer process (service.writer)
    replicas: int = 1
    metrics_port: int | None = None  # None: no metrics endpoint (service.metrics)
    metrics_listen: str = "127.0.0.1"
    #: PostgreSQL: transactions in flight per process (service.dbthreads); None: the default, or the URL's cap.
    pool_size: int | None = None
    #: Test-only: cap the SQLite file at this many pages, to simulate a full disk.
    sqlite_max_page_count: int | None = None

    def dumps(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @staticmethod
    def loads(text: str) -> Settings:
        return Settings(**json.loads(text))
