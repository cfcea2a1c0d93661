"""Bench databases: N users of one tenant, built with bulk inserts (never N RPCs).

User ids are ``usr_bench`` + a zero-padded number of ``digits(N)`` digits, so any digit-by-digit mix
of two valid ids is a valid id: the load generator can rewrite the id in its body file while h2load
reads it, and every request still names an existing user. Passwords are hashed once and reused.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from service.auth import new_key
from service.storage import Store
from service.storage.models import USER_COLUMNS, UserRow
from service.storage.users import now_micros
from service.users import fields
from service.users.update import User, new_etag

TENANT = "bench"
PASSWORD = "Bench-Password-1"
CHUNK = 50_000


def digits(n: int) -> int:
    """Width of the number in an id: n must be a power of ten so every mix of digits is < n."""
    width = len(str(n - 1))
    if 10 ** width != n:
        raise ValueError(f"the user count must be a power of ten, got {n}")
    return width


def user_id(i: int, width: int) -> str:
    return f"usr_bench{i:0{width}d}"


def _rows(tenant_id: int, n: int, password_hash: str) -> Iterator[tuple[Any, ...]]:
    width, now = digits(n), now_micros()
    etag = new_etag()
    for i in range(n):
        name = f"bench{i:0{width}d}"
        user = User(id=user_id(i, width), username=name, email=f"{name}@example.com", display_name=f"Bench User {i}",
                    etag=etag)
        user.create_time.FromMicroseconds(now)
        user.update_time.FromMicroseconds(now)
        fields.as_stored(user)
        values: dict[str, Any] = {"tenant_id": tenant_id, fields.SECRET.columns[0].name: password_hash}
        for field in fields.STORED:  # every column, as the field table stores it
            values.update(field.to_columns(user))
        yield tuple(values[c] for c in COLUMNS)


#: Every column but the row sequence, in the model's field order (the order Peewee writes them in).
COLUMNS = tuple(c for c in USER_COLUMNS if c != "seq")


def build(path: Path, n: int, password_hash: str) -> float:
    """Create ``path`` with ``n`` users of tenant ``bench``; returns the seconds it took."""
    start = time.monotonic()
    path.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    store = Store(f"sqlite:///{path}")
    try:
        tid = store.keys.tenant_id(TENANT, create=True)
        assert tid is not None
        # The statement is built by Peewee once; the rows go through executemany in big transactions.
        sql = UserRow.insert({getattr(UserRow, c): None for c in COLUMNS}).sql()[0]
        conn = store.db.connection()
        rows = _rows(tid, n, password_hash)
        while True:
            chunk = [r for _, r in zip(range(CHUNK), rows, strict=False)]
            if not chunk:
                break
            with store.db.atomic():
                conn.executemany(sql, chunk)
        store.db.execute_sql("ANALYZE")
        store.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        store.close()
    return time.monotonic() - start


def build_postgres(url: str, n: int, password_hash: str) -> float:
    """``n`` users of tenant ``bench`` in the (fresh, empty) PostgreSQL database at ``url``; seconds taken."""
    start = time.monotonic()
    store = Store(url)
    try:
        tid = store.keys.tenant_id(TENANT, create=True)
        assert tid is not None
        sql = UserRow.insert({getattr(UserRow, c): None for c in COLUMNS}).sql()[0]
        rows = list(_rows(tid, n, password_hash))
        with store.db.atomic():
            cursor = store.db.cursor()
            for i in range(0, n, 1000):
                cursor.executemany(sql, rows[i:i + 1000])
        store.db.execute_sql("ANALYZE")
    finally:
        store.close()
    return time.monotonic() - start


def admin_key(path: Path | str) -> str:
    """A fresh admin key of tenant ``bench`` in the SQLite file at ``path``, or the database at a URL."""
    store = Store(path if isinstance(path, str) else f"sqlite:///{path}")
    try:
        key_id, key, secret_hash = new_key()
        store.keys.create_key(TENANT, "admin", None, secret_hash, key_id)
        return key
    finally:
        store.close()
