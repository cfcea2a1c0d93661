"""Storage: one database (SQLite file or PostgreSQL), migrated when opened.

``Store`` composes the parts, each in a module of its own: ``db`` (connection, transactions, retry,
error translation), ``models`` and ``migrations`` (the schema), ``users`` (reads and the one
read-modify-write), ``audit``, ``requests`` (request ids), ``keys`` (tenants and API keys), ``policies``
(each tenant's password-guessing settings), ``checkpoint`` (SQLite's WAL) and ``postgres`` (the pool and
SQLSTATEs).
"""

from __future__ import annotations

from typing import Any

from service.storage import migrations
from service.storage.checkpoint import Checkpointer
from service.storage.db import Database
from service.storage.keys import KeyRecord, Keys
from service.storage.models import proxy
from service.storage.policies import Policies
from service.storage.users import Users

__all__ = ["KeyRecord", "Store"]


class Store:
    """The service's storage. ``users`` and ``keys`` hold the operations; the rest is plumbing."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000, max_page_count: int | None = None,
                 pool_size: int | None = None) -> None:
        self.database = Database(url, busy_timeout_ms=busy_timeout_ms, max_page_count=max_page_count,
                                 pool_size=pool_size)
        self.url = url
        self.db: Any = self.database.db
        self.is_sqlite = self.database.is_sqlite
        proxy.initialize(self.db)
        self.users = Users(self.database)
        self.keys = Keys(self.database)
        self.policies = Policies(self.database)  # each tenant's password-guessing settings
        self._checkpointer: Checkpointer | None = None
        with self.database.guard():
            self.version = migrations.run(self.db)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        self.database.close()

    def checkpoint_in_background(self, interval: float = 0.5) -> None:
        """SQLite: move WAL checkpoints off the serving thread (see ``checkpoint.py``)."""
        if self.is_sqlite and self._checkpointer is None:
            self.db.execute_sql("PRAGMA wal_autocheckpoint = 0")
            self._checkpointer = Checkpointer(self.db.database, interval, self.database.check_file)
