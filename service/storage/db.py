"""The database connection: connect by URL, transactions, bounded retry, and error translation.

``Database`` wraps one Peewee database (SQLite file in WAL mode, or pooled PostgreSQL, see
``postgres.py``). A write transaction takes the write lock from its first statement (``BEGIN
IMMEDIATE`` on SQLite; ``SELECT ... FOR UPDATE`` inside the transaction on PostgreSQL). What a failed
statement means is decided by the error's code, never its text: SQLite's ``sqlite_errorcode``,
PostgreSQL's SQLSTATE. Statements built by Peewee are rendered once and re-executed (``sql``):
Peewee's query building is most of the per-call cost (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import peewee as pw
from playhouse import db_url

from service import metrics
from service.errors import Aborted, AlreadyExists, FailedPrecondition, ResourceExhausted, Unavailable, Violation
from service.storage import postgres, sqlite_file
from service.users import fields

log = logging.getLogger("userservice")
#: Write transactions rolled back by a serialization failure or deadlock run again, at most this often.
WRITE_ATTEMPTS = 8
#: What a failed statement can raise: Peewee's wrapped errors, sqlite3's own, and the pool's.
DATABASE_ERRORS = (pw.PeeweeException, sqlite3.Error, postgres.MaxConnectionsExceeded)
#: SQLite primary result codes (https://sqlite.org/rescode.html) that the service answers for.
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CONSTRAINT = 5, 6, 8, 10, 13, 19
#: The extended code of SQLITE_READONLY that says the file was moved or deleted since it was opened.
SQLITE_READONLY_DBMOVED = SQLITE_READONLY | (4 << 8)


def connect(url: str, busy_timeout_ms: int = 5000, max_page_count: int | None = None,
            pool_size: int | None = None) -> Any:
    """A Peewee database from a URL: ``sqlite:///path`` (WAL) or ``postgresql://...`` (pooled).

    ``max_page_count`` is a test-only knob: it caps the SQLite file, which is how the tests make a
    full disk (SQLITE_FULL) without filling one. ``pool_size``: PostgreSQL's threads (``postgres.workers``).
    """
    if url.startswith("sqlite"):
        pragmas: dict[str, Any] = {"journal_mode": "wal", "synchronous": "normal",
                                   "busy_timeout": busy_timeout_ms, "foreign_keys": 1}
        if max_page_count:
            pragmas["max_page_count"] = max_page_count
        return db_url.connect(url, pragmas=pragmas)
    if postgres.is_postgres_url(url):
        return postgres.connect_postgres(url, pool_size)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")


class Conflict(Exception):
    """A transaction the database rolled back for a serialization failure or deadlock; ``retry`` reruns it."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, what it wraps (Peewee puts the driver's error in ``args[0]``) and what it was raised over."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        todo += [inner, current.__cause__, current.__context__]


def sqlite_code(exc: BaseException, extended: bool = False) -> int | None:
    """The primary (or ``extended``) SQLite result code of a failure (also when Peewee wrapped it, or a
    ROLLBACK replaced it)."""
    for error in _chain(exc):
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None:
            return int(code) if extended else int(code) & 0xFF
    return None


def replaced(problem: str) -> Unavailable:
    """What a write gets once the database file was deleted or replaced under the service."""
    return Unavailable(f"{problem}; restart the service", reason=sqlite_file.REPLACED)


def already_exists(exc: BaseException) -> AlreadyExists | None:
    """ALREADY_EXISTS naming the field whose unique index refused the write (None: not one of ours).

    PostgreSQL names the index (``users_tenant_id_<column>``); SQLite names only its columns, in the
    message: the one place where a message is read, to tell which of our indexes it was.
    """
    text = postgres.constraint_name(exc) or str(exc).split("\n", 1)[0]
    for field in fields.UNIQUE:
        column = field.columns[-1].name
        if text.endswith(column) or f".{column}" in text or f"_{column}" in text:
            return AlreadyExists(f"{field.name} is already taken in this tenant", reason=field.unique,
                                 violations=[Violation(field.name, "already taken")], metadata={"field": field.name})
    return None


class Database:
    """One database, its statement cache, and the mapping of its failures to the caller's errors."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000, max_page_count: int | None = None,
                 pool_size: int | None = None) -> None:
        self.url = url
        self.db: Any = connect(url, busy_timeout_ms, max_page_count, pool_size)
        self.is_sqlite = isinstance(self.db, pw.SqliteDatabase)
        #: PostgreSQL: how many threads may run transactions at once (``service.dbthreads``); SQLite: 1.
        self.workers = 1 if self.is_sqlite else postgres.workers(url, pool_size)
        self._statements: dict[Any, str] = {}
        path = sqlite_file.file_path(self.db.database) if self.is_sqlite else None
        if path is not None:
            sqlite_file.create_owner_only(path)
        with self.guard():  # a database that is down: UNAVAILABLE, not a driver traceback
            self.db.connect(reuse_if_open=True)
        #: SQLite: the file opened, to notice it deleted or replaced (``check_file``).
        self.file = sqlite_file.FileIdentity(path) if path is not None else None

    def check_file(self) -> str | None:
        """SQLite: what is wrong with the database file now (deleted, replaced), or None. One ``stat``."""
        return self.file.check() if self.file is not None else None

    def close(self) -> None:
        if not self.db.is_closed():
            self.db.close()

    def release(self) -> None:
        """Give this thread's connection back to the pool (a thread of ``service.dbthreads``, after a call)."""
        if not self.db.is_closed():
            self.db.close()

    # ---- statements -------------------------------------------------------------------------
    def sql(self, key: Any, build: Callable[[], pw.Query]) -> str:
        """The SQL of ``build()`` in this database's dialect, rendered once per ``key`` (bounded)."""
        sql = self._statements.get(key)
        if sql is None:
            sql = self.db.get_sql_context().sql(build()).query()[0]
            if len(self._statements) >= 4096:  # one UPDATE per set of changed columns: keep it bounded
                self._statements.clear()
            self._statements[key] = sql
        return sql

    def statements_cached(self) -> int:
        return len(self._statements)

    def execute(self, sql: str, params: Sequence[Any]) -> Any:
        """Run rendered SQL: straight on the sqlite3 connection, or prepared on the pooled PostgreSQL one."""
        if self.is_sqlite:
            return self.db.connection().execute(sql, params)
        return self.db.execute_prepared(sql, params)

    def defer(self, sql: str, params: Sequence[Any]) -> None:
        """A write whose result nobody reads, inside a write transaction. SQLite runs it now; PostgreSQL
        sends it with the transaction's next statement or its ``COMMIT`` (``postgres.Pooled``): a
        refused one is then reported by the commit, and rolls everything back all the same."""
        if self.is_sqlite:
            self.execute(sql, params)
        else:
            self.db.defer(sql, params)

    def flush(self) -> None:
        """Send the deferred writes now, so the database judges them (a validate-only write, before its rollback)."""
        if not self.is_sqlite:
            self.db.flush()

    def one(self, sql: str, params: Sequence[Any]) -> Any:
        with self.guard():
            return self.execute(sql, params).fetchone()

    # ---- transactions -----------------------------------------------------------------------
    def write(self, *, unique: bool = False) -> Transaction:
        """One write transaction holding the write lock; ``unique``: a unique-index refusal is ALREADY_EXISTS."""
        return Transaction(self, unique)

    def retry(self, run: Callable[[], Any]) -> Any:
        """Run a write transaction, again after a serialization failure or deadlock (bounded, with jitter).

        Between attempts the thread sleeps a random 0-2^n ms (at most 32): on PostgreSQL that is a thread
        of ``service.dbthreads``, never the event loop's. At READ COMMITTED
        (PostgreSQL's default, which the service uses) ``FOR UPDATE`` waits instead, so this is rare.
        """
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return metrics.transaction(run)
            except Conflict as exc:
                log.info("transaction conflict", extra={"event": "retry" if attempt < WRITE_ATTEMPTS else "conflict",
                                                        "error": postgres.sqlstate(exc)})
                if attempt == WRITE_ATTEMPTS:
                    raise Aborted("the write conflicted with concurrent writes; retry",
                                  reason="TRANSACTION_CONFLICT") from exc.__cause__
                metrics.transaction_retried()
                time.sleep(random.uniform(0, min(0.032, 0.001 * 2**attempt)))  # full jitter, capped
        raise AssertionError("unreachable")

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Map what the database says about a failed statement to the caller's error."""
        try:
            yield
        except DATABASE_ERRORS as exc:
            self.fail(exc)

    def fail(self, exc: BaseException, unique: bool = False) -> NoReturn:
        mapped = self.translate(exc, unique)
        if mapped is None:
            raise exc
        raise mapped from exc

    def translate(self, exc: BaseException, unique: bool = False) -> BaseException | None:
        """The caller's error for a database failure, or None to let it through as it is.

        SQLite: busy or locked past the busy timeout is UNAVAILABLE, a full disk or an I/O error
        RESOURCE_EXHAUSTED, a read-only file FAILED_PRECONDITION (``DATABASE_READ_ONLY``: no retry helps
        until an operator makes it writable), a file moved away UNAVAILABLE (``DATABASE_REPLACED``).
        PostgreSQL: a serialization failure or deadlock is ``Conflict`` (retried);
        a timeout, a lost connection or a server that is down is UNAVAILABLE, and a broken connection
        is discarded so the next call opens a new one. With ``unique``, a unique-index violation is
        ALREADY_EXISTS naming the field.
        """
        if self.is_sqlite:
            code = sqlite_code(exc)
            if code == SQLITE_CONSTRAINT and unique:
                return already_exists(exc)
            if code in (SQLITE_BUSY, SQLITE_LOCKED):
                return Unavailable("the database is busy; retry", reason="DATABASE_BUSY")
            if code in (SQLITE_FULL, SQLITE_IOERR):
                return ResourceExhausted("the database disk is full", reason="DISK_FULL")
            if code == SQLITE_READONLY:
                if sqlite_code(exc, extended=True) == SQLITE_READONLY_DBMOVED:
                    return replaced("the database file was moved or deleted while the service ran")
                return FailedPrecondition("the database file is read-only: writes fail until it is made writable",
                                          reason="DATABASE_READ_ONLY")
            return None
        if unique and postgres.sqlstate(exc) == postgres.UNIQUE_VIOLATION:
            return already_exists(exc)
        failure = postgres.classify(exc)
        if failure is postgres.Failure.RETRY:
            return Conflict()
        if failure is postgres.Failure.BUSY:
            return Unavailable("the database is busy; retry", reason="DATABASE_BUSY")
        if failure is postgres.Failure.LOST:
            if self.db.in_transaction():
                return None  # the transaction around this rolls back, then discards the connection
            self._discard()
            return Unavailable("the database is unavailable; retry", reason="DATABASE_UNAVAILABLE")
        return None

    def _discard(self) -> None:
        """Drop this thread's connection (broken, or in an unknown state); the next statement reconnects.

        The pool's idle connections go too: what cut this one (a restart, a failover) cut them as well,
        and the next call should not find one of them.
        """
        try:
            self.db.manual_close()
        except Exception:  # the connection is gone either way
            self.db.dispose()
        close_idle = getattr(self.db, "close_idle", None)
        if close_idle is not None:
            close_idle()


class Transaction:
    """A write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT`` straight on the sqlite3 connection
    (Peewee's ``atomic()`` bookkeeping cost 26-37 us against 14 us for an empty transaction, measured),
    or Peewee's ``atomic()`` on PostgreSQL. Any error rolls back, then becomes the caller's error.
    A class, not a generator: it runs on every write.
    """

    __slots__ = ("atomic", "conn", "database", "unique")

    def __init__(self, database: Database, unique: bool) -> None:
        self.database, self.unique = database, unique
        self.conn: sqlite3.Connection | None = None
        self.atomic: Any = None

    def __enter__(self) -> None:
        database = self.database
        if database.file is not None and database.file.problem is not None:  # found by a timer, not here
            raise replaced(database.file.problem)
        try:
            if database.is_sqlite:
                self.conn = database.db.connection()
                self.conn.execute("BEGIN IMMEDIATE")
            else:
                self.atomic = database.db.atomic()
                self.atomic.__enter__()
        except DATABASE_ERRORS as exc:
            database.fail(exc)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            if self.conn is not None:
                if kind is None:
                    try:
                        self.conn.commit()
                    except BaseException:
                        self.conn.rollback()  # a failed COMMIT (busy, full) may leave the transaction open
                        raise
                else:
                    self.conn.rollback()  # a no-op when SQLite already rolled back (SQLITE_FULL)
            elif self.atomic is not None:
                self.atomic.__exit__(kind, exc, tb)
        except DATABASE_ERRORS as failure:  # the commit or rollback failed: map what it says
            self.database.fail(failure, self.unique)
        if isinstance(exc, DATABASE_ERRORS):
            self.database.fail(exc, self.unique)
