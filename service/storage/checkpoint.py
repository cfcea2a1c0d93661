"""SQLite's WAL checkpoints, off the serving thread.

By default the connection whose commit crosses 1,000 WAL pages runs the checkpoint itself, inside a
request (copying pages, then an fsync): a pause for every call in flight. Here a separate connection
runs ``wal_checkpoint(PASSIVE)`` (it never blocks writers, and sqlite3 releases the GIL while it
works) every ``interval`` seconds, and once more when stopped. Durability is unchanged.

Each round also runs ``check`` (``Database.check_file``: is the file still the one opened?), so the
process that writes notices a deleted or replaced file within ``interval`` without a ``stat`` per call.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import suppress


class Checkpointer:
    def __init__(self, path: str, interval: float, check: Callable[[], object] = lambda: None) -> None:
        self._path, self._interval, self._check = path, interval, check
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, timeout=5, check_same_thread=False)
        try:
            while not self._stop.wait(self._interval):
                self._check()
                with suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            with suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
