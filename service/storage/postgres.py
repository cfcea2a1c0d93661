"""PostgreSQL specifics: the pooled connection, and what a database error means for a transaction.

``connect_postgres`` turns ``postgresql://`` (or ``postgres://``, ``postgresql+pool://``) into
Peewee's ``PooledPostgresqlDatabase`` over psycopg2. In the server, database work runs on a bounded
thread pool (``service.dbthreads``), each thread checking a connection out of this pool per call; the
event-loop thread keeps one more: in the server for what it still reads itself (API keys, the seed
routes' lookups), in the writer process for the group-commit transactions it runs on its loop.
``workers`` sizes it: ``--pool-size`` (default ``DEFAULT_WORKERS``), at most the URL's
``max_connections`` less the event loop's one; without ``max_connections`` in the URL the pool's cap
is ``workers + 1``. The pool hands out a fresh connection after a broken one is discarded, and waits
(``timeout``) rather than failing when all are busy. Query parameters of the URL override the
defaults below; the rest go to psycopg2 (``sslmode``, ``application_name``...).

The store's own statements (``Database.execute``: the statements ``Database.sql`` renders once, which
every read and write of a user runs) are prepared on each connection the first time it runs them, and
executed by name after that (``Pooled.execute_prepared``). PostgreSQL then parses and plans each of
them once per connection, not on every call: with pgbench running the service's UpdateUser transaction,
prepared statements did 1.8x the transactions/s of the simple protocol on this machine kind
(docs/benchmarks.md, "PostgreSQL"). psycopg2 has no prepared statements of its own, so the SQL
``PREPARE``/``EXECUTE`` statements do it, and ``PREPARE`` travels in the same message as its first
``EXECUTE`` (no round trip more). ``?prepared_statements=false`` in the URL turns this off, for a
pooler in transaction mode (PgBouncer) that hands each transaction another server session.

``classify`` sorts an exception by SQLSTATE: serialization failures and deadlocks (40001, 40P01) are
retried by the store a bounded number of times; a lost connection or a database that is down, busy or
shutting down becomes UNAVAILABLE, after the transaction has been rolled back (or never reached the
server), so a caller never sees a half write.
"""

from __future__ import annotations

import enum
import itertools
import re
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import peewee as pw
import psycopg2.extensions  # type: ignore[import-untyped]
from playhouse import db_url
from playhouse.pool import MaxConnectionsExceeded as MaxConnectionsExceeded
from playhouse.pool import PooledPostgresqlDatabase

#: Defaults of the pool and the session; a URL query parameter of the same name wins.
POOL_DEFAULTS: dict[str, Any] = {
    "stale_timeout": 300,  # seconds before an idle pooled connection is replaced
    "timeout": 5,  # seconds to wait for a free pooled connection
    "connect_timeout": 5,  # psycopg2: seconds to reach the server, so a dead host fails fast
}
#: Threads of ``service.dbthreads`` per server process without ``--pool-size``: what a group commit leaves
#: to run alone (a row locked elsewhere waits on one of them), and reads (docs/scaling.md, "Sizing").
DEFAULT_WORKERS = 4
#: Row-lock waits and statements end after this long (milliseconds); the call gets UNAVAILABLE.
LOCK_TIMEOUT_MS = 5000
STATEMENT_TIMEOUT_MS = 15000
#: Transaction-level advisory lock that serializes migrations of replicas starting together.
MIGRATION_LOCK_ID = 0x75736572  # "user"
UNIQUE_VIOLATION = "23505"
RETRY_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
BUSY_SQLSTATES = frozenset({"55P03", "57014"})  # lock_not_available, query_canceled (timeouts)
#: A connection with more prepared statements than this drops them all and starts again (server memory).
MAX_PREPARED = 256
#: The URL's switch for prepared statements (``true`` unless it says ``false``, ``off``, ``0`` or ``no``).
PREPARED_STATEMENTS = "prepared_statements"


class Failure(enum.Enum):
    RETRY = "retry"  # rolled back by the server; the whole transaction may run again
    BUSY = "busy"  # a lock or statement timeout; the connection is still good
    LOST = "lost"  # the connection or the server is gone; discard the connection
    OTHER = "other"


def is_postgres_url(url: str) -> bool:
    return urlsplit(url).scheme in ("postgres", "postgresql", "postgres+pool", "postgresql+pool")


def _pooled(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql+pool", parts.netloc, parts.path, parts.query, parts.fragment))


def workers(url: str, pool_size: int | None = None) -> int:
    """Threads running transactions for a server process: ``pool_size`` (default ``DEFAULT_WORKERS``),
    at most the URL's ``max_connections`` less the one the event-loop thread keeps (and at least 1)."""
    wanted = pool_size or DEFAULT_WORKERS
    cap = db_url.parse(_pooled(url)).get("max_connections")
    return max(1, min(wanted, int(cap) - 1)) if cap else max(1, wanted)


class Session(psycopg2.extensions.connection):  # type: ignore[misc]
    """A psycopg2 connection that knows which of the store's statements it has prepared.

    ``prepared`` is None when that is not known: a message with a ``PREPARE`` in it failed, and
    statements before the failure ran (a ``PREPARE`` survives a rollback) while those after it did not.
    The next statement then starts with ``DEALLOCATE ALL``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prepared: set[str] | None = set()


_PLACEHOLDER = re.compile(r"%[s%]")


def numbered(sql: str) -> str:
    """Peewee's ``%s`` placeholders as ``$1``, ``$2``... for ``PREPARE`` (a literal ``%%`` stays as it is)."""
    counter = itertools.count(1)
    return _PLACEHOLDER.sub(lambda m: m.group() if m.group() == "%%" else f"${next(counter)}", sql)


class Pending:
    """What this thread's transaction has not sent yet: its ``BEGIN``, and writes whose results nobody reads."""

    __slots__ = ("begin", "params", "preparing", "statements")

    def __init__(self) -> None:
        self.begin: str | None = None
        self.statements: list[str] = []
        self.params: list[Any] = []
        self.preparing = False  # a PREPARE is among the statements

    def take(self) -> tuple[str | None, list[str], list[Any], bool]:
        taken = self.begin, self.statements, self.params, self.preparing
        self.begin, self.statements, self.params, self.preparing = None, [], [], False
        return taken


class Pooled(PooledPostgresqlDatabase):  # type: ignore[misc]
    """Peewee's pool, with fewer round trips per call: a write of an existing user is two.

    - No ``SELECT 1`` on every checkout: the service checks a connection out for every call
      (``service.dbthreads``). A checkout trusts what psycopg2 knows locally (closed, or its
      transaction status unknown). A connection the server cut since is found by the call that uses
      it: that call gets UNAVAILABLE with its transaction rolled back, and ``Database._discard`` drops
      the pool's idle connections with it, so the next call opens a fresh one.
    - ``BEGIN`` travels with the transaction's first statement (``BEGIN; SELECT ... FOR UPDATE`` in one
      simple-protocol message; psycopg2 returns the last statement's rows), and a transaction that ran
      no statement sends neither ``BEGIN`` nor ``COMMIT``.
    - Writes whose results nobody reads (``defer``: the ``UPDATE``, the audit and request-id ``INSERT`` statements)
      travel with the transaction's next statement or with its ``COMMIT``: ``UPDATE ...; INSERT ...;
      COMMIT`` is one message. PostgreSQL runs them in order and stops at the first error, which the
      message then raises, so a refused write is reported at ``COMMIT`` with nothing written; a
      rollback drops what was not sent. ``flush`` sends them now (a validate-only write, which must
      hear the unique indexes before it rolls back).
    Each round trip is a wait and a GIL hand-off for the thread that runs it (docs/benchmarks.md,
    "PostgreSQL").
    """

    def __init__(self, *args: Any, prepare: bool = True, **kwargs: Any) -> None:
        if prepare:
            kwargs["connection_factory"] = Session
        super().__init__(*args, **kwargs)
        self.prepare = prepare
        self._local = threading.local()
        #: Statement text -> its prepared name, shared by every connection; a name is never reused.
        self._names: dict[str, str] = {}
        self._counter = itertools.count(1)

    @property
    def _pending(self) -> Pending:
        pending: Pending | None = getattr(self._local, "pending", None)
        if pending is None:
            pending = self._local.pending = Pending()
        return pending

    def _is_closed(self, conn: Any) -> bool:
        return bool(conn.closed) or self._adapter.txn_status(conn) == self._adapter.txn_unknown

    def begin(self, isolation_level: Any = None) -> None:
        if self.is_closed():  # check out now: a checkout resets this thread's transaction stack
            self.connect()
        level = isolation_level if isolation_level is not None else self._isolation_level
        self._pending.take()
        self._pending.begin = (f"BEGIN TRANSACTION ISOLATION LEVEL {self._adapter.isolation_level_str(level)}"
                               if level else "BEGIN")

    def _send(self, statements: list[str], params: list[Any] | None, preparing: bool) -> Any:
        """One message; a failed one with a ``PREPARE`` in it leaves this connection's prepared set unknown."""
        try:
            return super().execute_sql("; ".join(statements), params)
        except BaseException:
            if preparing:
                self.connection().prepared = None  # which of them ran is not known
            raise

    def _message(self, statements: list[str], params: Any, preparing: bool) -> tuple[list[str], Any, bool]:
        """``statements`` after what is pending on this thread, with all their parameters."""
        begin, pending, values, waiting = self._pending.take()
        if pending:
            params = [*values, *(params or ())]
        return [*([begin] if begin else []), *pending, *statements], params, preparing or waiting

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        return self._send(*self._message([sql], params, False))

    def _statement(self, sql: str, params: Any) -> tuple[list[str], bool]:
        """The statements that run ``sql`` prepared on this connection (``PREPARE`` it the first time), and
        whether one of them is a ``PREPARE``. The name counts as prepared from here; a failure undoes that."""
        if not self.prepare:
            return [sql], False
        name = self._names.get(sql)
        if name is None:
            if len(self._names) >= 4 * MAX_PREPARED:  # bounded, as Database.sql's cache; names stay unique
                self._names.clear()
            name = self._names.setdefault(sql, f"userservice_{next(self._counter)}")
        conn = self.connection()
        statements = []
        if conn.prepared is None or len(conn.prepared) >= MAX_PREPARED:
            statements.append("DEALLOCATE ALL")
            conn.prepared = set()
        preparing = name not in conn.prepared
        if preparing:
            statements.append(f"PREPARE {name} AS {numbered(sql)}")
            conn.prepared.add(name)
        statements.append(f"EXECUTE {name} ({', '.join(['%s'] * len(params))})" if params else f"EXECUTE {name}")
        return statements, preparing

    def execute_prepared(self, sql: str, params: Any) -> Any:
        """Run one of the store's statements, prepared (``_statement``), with what is pending."""
        statements, preparing = self._statement(sql, params)
        return self._send(*self._message(statements, params, preparing))

    def defer(self, sql: str, params: Any) -> None:
        """Send this write with the transaction's next message (a statement, ``flush`` or ``COMMIT``)."""
        statements, preparing = self._statement(sql, params)
        pending = self._pending
        pending.statements += statements
        pending.params += params
        pending.preparing = pending.preparing or preparing

    def flush(self) -> None:
        """Send the deferred writes now (nothing when there are none)."""
        if self._pending.statements:
            self._send(*self._message([], None, False))

    def commit(self) -> None:
        if self._pending.statements:
            self._send(*self._message(["COMMIT"], None, False))
        elif self._pending.take()[0] is None:  # a transaction that sent nothing has nothing to commit
            super().commit()

    def rollback(self) -> None:
        begin, _, _, preparing = self._pending.take()
        if preparing:
            self.connection().prepared = None  # PREPAREs that were never sent
        if begin is None:
            super().rollback()


def connections(url: str, pool_size: int | None = None) -> int:
    """The pool's cap of connections for a server process: the URL's ``max_connections``, else threads + 1
    (the event-loop thread's own)."""
    cap = db_url.parse(_pooled(url)).get("max_connections")
    return int(cap) if cap else workers(url, pool_size) + 1


def connect_postgres(url: str, pool_size: int | None = None) -> Any:
    """A ``PooledPostgresqlDatabase`` for ``url``, with the pool and session defaults applied."""
    pooled = _pooled(url)
    given = db_url.parse(pooled)
    prepare = str(given.pop(PREPARED_STATEMENTS, "true")).lower() not in ("false", "off", "0", "no")
    params = {k: v for k, v in POOL_DEFAULTS.items() if k not in given}
    params["max_connections"] = connections(url, pool_size)
    if "options" not in given:
        params["options"] = f"-c lock_timeout={LOCK_TIMEOUT_MS} -c statement_timeout={STATEMENT_TIMEOUT_MS}"
    return Pooled(prepare=prepare, **{**given, **params})


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a psycopg2 error, also when Peewee has wrapped it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "pgcode", None)
        if code:
            return str(code)
        inner = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = inner or current.__cause__ or current.__context__
    return None


def constraint_name(exc: BaseException) -> str | None:
    """The name of the constraint a psycopg2 IntegrityError names, also when Peewee has wrapped it."""
    current: BaseException | None = exc
    for _ in range(4):
        if current is None:
            break
        diag = getattr(current, "diag", None)
        name = getattr(diag, "constraint_name", None)
        if name:
            return str(name)
        current = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
    return None


def classify(exc: BaseException) -> Failure:
    if isinstance(exc, MaxConnectionsExceeded):
        return Failure.BUSY
    if not isinstance(exc, pw.DatabaseError | pw.InterfaceError):
        return Failure.OTHER
    code = sqlstate(exc)
    if code in RETRY_SQLSTATES:
        return Failure.RETRY
    if code in BUSY_SQLSTATES:
        return Failure.BUSY
    if isinstance(exc, pw.InterfaceError):
        return Failure.LOST
    if code is None and isinstance(exc, pw.OperationalError):
        return Failure.LOST  # psycopg2 reports a refused or broken connection without a SQLSTATE
    if code is not None and (code.startswith(("08", "53")) or code in ("57P01", "57P02", "57P03")):
        return Failure.LOST  # connection exceptions, insufficient resources, shutdown
    return Failure.OTHER
