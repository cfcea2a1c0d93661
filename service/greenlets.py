"""PostgreSQL's writer process: each transaction in a greenlet on the event loop, psycopg2 in green mode.

The writer (``service.writer``) runs every write command of a PostgreSQL replica. Here each runs in a
greenlet of its own, on the writer's one thread: the store's synchronous code (Peewee, the
``FOR UPDATE``, ``retry``) runs unchanged, and where psycopg2 would block on the server it calls
``wait`` (psycopg2's wait callback, ``psycopg2.extensions.set_wait_callback``), which hands the socket to
the event loop (``add_reader``/``add_writer``) and switches back to it. The loop then serves the other
transactions and commands; when the socket is ready it switches back into the greenlet. Up to
``workers`` (``--pool-size``) transactions are in flight, each on its own pooled connection; commands
for one user still queue (``service.dbthreads.Calls``). A retry's backoff sleeps the same way
(``Database.sleep``), so a row lock, a commit's WAL flush or a backoff holds its greenlet, never the
loop.

Why not the threads of ``service.dbthreads`` here: with threads, the loop and 4 database threads take
turns on the interpreter lock; every round trip to PostgreSQL is a GIL hand-off, every command a hop to a
thread and back (measured: about 100 us per call of the writer's CPU beyond the transaction itself,
docs/benchmarks.md, "PostgreSQL"). In one thread there is neither. Why psycopg2's green mode rather than
``playhouse.pwasyncio`` over asyncpg (the same greenlet bridge, another driver): the store's SQLSTATE
translation, its prepared-statement cache and its pooled connection (``service.storage.postgres``) all
stay as they are, and nothing here depends on a second driver. Why our own bridge rather than
``playhouse.pwasyncio.greenlet_spawn``: that one needs an awaitable from the sync side, and psycopg2's
wait callback has a file descriptor to wait on; waiting for it is the loop's ``add_reader``, with no
coroutine to build per round trip.

Peewee keeps a connection's state per thread (``threading.local``); here one thread runs many
transactions, so the database's state, and ``Pooled``'s, are kept per greenlet instead (``PerGreenlet``),
and the database's connect lock (a ``threading.Lock``, which a second greenlet would block the thread on)
is a no-op: only the writer's one thread uses its database. These are Peewee's private names (it has no
hook for this); ``Greenlets`` refuses to start if they change.
Code that runs outside a command's greenlet (the Store's first connection when it opens) waits on its
socket with ``select``, as plain psycopg2 would.

A connection attempt that does not complete within the URL's ``connect_timeout`` fails (libpq enforces it
only for blocking connects); a statement is bounded by the server's ``statement_timeout`` and
``lock_timeout``, as with threads. A command already running is never interrupted: cancelling its call
(the caller went away) leaves it to finish its transaction, unanswered.
"""

from __future__ import annotations

import asyncio
import contextvars
import select
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg2.extensions  # type: ignore[import-untyped]
from greenlet import getcurrent, greenlet

from service.context import DEADLINE
from service.dbthreads import Calls
from service.storage import Store

T = TypeVar("T")
READ, WRITE = psycopg2.extensions.POLL_READ, psycopg2.extensions.POLL_WRITE
CONNECTING = psycopg2.extensions.STATUS_SETUP, 20  # 20: libpq's connection still being set up


class Job(greenlet):  # type: ignore[misc]
    """A command's greenlet: ``wait`` switches to the loop from these, and blocks anywhere else."""


def wait(conn: Any) -> None:
    """psycopg2's wait callback: until ``conn`` is done, wait for its socket (in a Job: on the loop)."""
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        if state not in (READ, WRITE):
            raise psycopg2.OperationalError(f"unexpected poll state {state}")
        timeout = _connect_timeout(conn) if conn.status in CONNECTING else None
        current = getcurrent()
        if isinstance(current, Job):
            current.parent.switch((conn.fileno(), state, timeout))
        else:
            readable, writable, _ = select.select(*(([conn.fileno()], []) if state == READ else ([], [conn.fileno()])),
                                                  [], timeout)
            if not readable and not writable:
                raise psycopg2.OperationalError("timeout expired")


def _connect_timeout(conn: Any) -> float | None:
    value = conn.info.dsn_parameters.get("connect_timeout")
    return float(value) if value and float(value) > 0 else None


def sleep(seconds: float) -> None:
    """``time.sleep`` for a Job: the loop goes on meanwhile (a retry's backoff). Elsewhere it blocks."""
    current = getcurrent()
    if isinstance(current, Job):
        current.parent.switch((None, None, seconds))
    else:
        select.select([], [], [], seconds)


async def drive(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in a Job, serving its waits on this event loop; its result or its exception."""
    loop = asyncio.get_running_loop()
    job = Job(fn)
    job.gr_context = contextvars.copy_context()
    request = job.switch(*args)
    while not job.dead:
        fd, state, timeout = request
        ready = loop.create_future()
        if fd is None:  # sleep
            loop.call_later(timeout, _set, ready)
            await ready
            request = job.switch()
            continue
        watch, unwatch = (loop.add_reader, loop.remove_reader) if state == READ else (loop.add_writer,
                                                                                     loop.remove_writer)
        watch(fd, _set, ready)
        try:
            await (asyncio.wait_for(ready, timeout) if timeout is not None else ready)
        except TimeoutError:
            request = job.throw(psycopg2.OperationalError("timeout expired"))
            continue
        finally:
            unwatch(fd)
        request = job.switch()
    return request  # type: ignore[no-any-return]


def _set(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class PerGreenlet:
    """Attributes kept per greenlet, as ``threading.local`` keeps them per thread; each greenlet's set
    starts as ``factory()`` and goes with its greenlet."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        object.__setattr__(self, "_factory", factory)
        object.__setattr__(self, "_states", weakref.WeakKeyDictionary())

    def _state(self) -> Any:
        current = getcurrent()
        state = self._states.get(current)
        if state is None:
            state = self._states[current] = self._factory()
        return state

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._state(), name, value)


class _Attributes:
    """A plain namespace: what a ``threading.local`` holds."""


class Greenlets(Calls):
    """``Writes`` (``service.users.servicer``) for PostgreSQL's writer: each command in a Job on this loop."""

    def __init__(self, store: Store, workers: int | None = None) -> None:
        super().__init__(store, workers)
        import peewee as pw

        psycopg2.extensions.set_wait_callback(wait)
        db = store.database.db
        # Peewee has no public hook for where it keeps a connection's state: its thread_safe databases
        # keep it in ``_state``, a ``_ConnectionLocal`` (``_ConnectionState`` per thread).
        if not isinstance(db._state, pw._ConnectionLocal):
            raise RuntimeError("Peewee no longer keeps its connection state in a _ConnectionLocal")
        db._state = PerGreenlet(pw._ConnectionState)
        # Its connect and close hold ``_lock``, a threading.Lock, across the connect: a second greenlet
        # connecting meanwhile would block this whole thread on it. Only this thread uses the database here.
        db._lock = pw._NoopLock()
        db._local = PerGreenlet(_Attributes)
        store.database.sleep = sleep
        self.slots = asyncio.Semaphore(self.workers)
        self.running: set[asyncio.Task[Any]] = set()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a Job, once one of ``workers`` slots is free; a cancelled call's Job finishes."""
        await self.slots.acquire()  # released when the Job ends, not when its caller goes
        task = asyncio.ensure_future(drive(self._job, DEADLINE.get(), fn, args))
        self.running.add(task)
        task.add_done_callback(self._done)
        return await asyncio.shield(task)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.running.discard(task)
        self.slots.release()

    async def drained(self) -> None:
        """Wait for the Jobs in flight (their callers may be gone)."""
        if self.running:
            await asyncio.gather(*self.running, return_exceptions=True)

    def close(self) -> None:
        psycopg2.extensions.set_wait_callback(None)

