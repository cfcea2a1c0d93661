"""The SQLite database as a file: created owner-only, and watched for being deleted or replaced.

The file holds password hashes, key hashes and personal data. SQLite creates a new database file
0644 (less the umask), and its ``-wal`` and ``-shm`` files with the database file's permissions; so
``create_owner_only`` makes the file (and a missing data directory) first, 0600 (0700), and SQLite opens
that empty file as a new database. ``exposed`` says whether an existing file is open to others, which
``userservice serve`` logs as a warning at start.

A file deleted or replaced under a running service (a restore copied over it, an ``rm``) is not
noticed by SQLite in WAL mode: writes went on into the unlinked file and were lost at the next start.
``FileIdentity`` remembers the device and inode of the file when it was opened; ``check()`` compares
them with what the path names now: one ``stat`` every half second, on the WAL checkpointer's thread
and the server's health task, never per call.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("userservice")
#: Why writes are refused once the file changed under the service (``ErrorInfo.reason``).
REPLACED = "DATABASE_REPLACED"


def file_path(database: str) -> Path | None:
    """The file a Peewee SQLite database names, or None (in memory, or a ``file:`` URI)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_owner_only(path: Path) -> None:
    """Make ``path`` (and its missing directories) owner-only, unless it exists: 0600 (0700)."""
    missing = [d for d in (path.parent, *path.parent.parents) if not d.exists()]
    for directory in reversed(missing):  # each one it creates, not only the last (``parents=True`` would not)
        directory.mkdir(mode=0o700, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def exposed(path: Path) -> list[str]:
    """The database's files that group or others may read or write (the database, its WAL)."""
    out = []
    for candidate in (path, Path(f"{path}-wal")):
        try:
            mode = candidate.stat().st_mode
        except FileNotFoundError:
            continue
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            out.append(f"{candidate.name} ({stat.filemode(mode)})")
    return out


class FileIdentity:
    """The device and inode of the database file when it was opened; ``problem`` once the path names
    another file or none (sticky: the open connection still writes to the old file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        found = path.stat()
        self.identity = (found.st_dev, found.st_ino)
        self.problem: str | None = None

    def check(self) -> str | None:
        """What is wrong with the file now (None: it is the one opened); logs the first finding."""
        if self.problem is None:
            try:
                found = os.stat(self.path)
            except FileNotFoundError:
                self.problem = "the database file was deleted while the service ran"
            else:
                if (found.st_dev, found.st_ino) != self.identity:
                    self.problem = "the database file was replaced while the service ran"
            if self.problem is not None:
                log.error(f"{self.problem}: writes are refused; restart the service on the right file",
                          extra={"event": "database_replaced", "error": REPLACED})
        return self.problem
