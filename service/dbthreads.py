"""PostgreSQL: update commands in groups, one transaction per group; the rest on a bounded pool of threads.

On PostgreSQL the writer process (``service.writer``) runs every write command (``service.users.update``)
here, and the server its reads (both, with ``--no-writer-process``). Work that may wait runs on
``store.database.workers`` threads (``--pool-size``, see ``service.storage.postgres``): each job checks
a connection out of Peewee's pool (Peewee keeps the connection per thread), runs the store's own
synchronous code, then gives it back. psycopg2 releases the GIL while it waits on the server, so a job
waiting for a row lock or a retry's sleep holds its thread, never the loop.

Group commit. The update commands whose user's turn has come queue here, and one group at a time takes
all of them (up to ``MAX_GROUP``) and runs them as one transaction (``Users.run_many``: one ``FOR
UPDATE SKIP LOCKED`` read of their rows, each command's rules on its row, every write and one
``COMMIT``: two round trips for the group). While it runs, the next commands queue, so groups grow with
the load and stay single commands when it is light. In the writer process a group runs on its event
loop (``inline``): that loop does nothing but read commands and send answers, and a group never waits
on a row lock or sleeps, so nothing else is held up but the commands queued behind it, which form the
next group. In a server (``--no-writer-process``) it runs on one of the threads, off the gRPC loop.
A command the group leaves (its row locked by another transaction, its user missing, validate-only, a
unique index refused the group, or the group hit a serialization failure) runs alone on a thread
(``Users.run``: it waits for its row lock, and retries with backoff), so a row locked elsewhere holds
only its own calls. Why: the client's and PostgreSQL's CPU per transaction is mostly per round trip and
per ``COMMIT``, not per row (``python -m bench.drivers --group 2 --group 4``), and CPU is what bounds a
replica on a small machine; running the group on the writer's loop also saves two thread hand-offs per
group. The figures, against the same service without groups and with groups on a thread or two at a
time, are in docs/benchmarks.md ("PostgreSQL: group commit").

Why threads over psycopg2, not ``playhouse.pwasyncio`` (asyncpg under greenlets) or psycopg 3's
async pool: the store's transaction code, its SQLSTATE translation (``postgres.classify`` reads
psycopg2's ``pgcode``/``diag``), the statement cache (``%s`` placeholders), the migrations, the CLI and
the tests' direct reads all run unchanged, the same code SQLite's writer process runs. Measured against
the same service with every call inline on the event loop, in the same run (``make bench``, PostgreSQL
section, docs/benchmarks.md): 2.0-3.0x the calls/s at 16 streams in three runs (1.2x in a short one).
What it costs: one hop to a thread and back per call, and GIL hand-offs between the loop and the
threads (about 20-38 context switches per call against 11-13 inline, and 0.05-0.3 ms more CPU per
call). ``playhouse.pwasyncio`` over asyncpg, the store's code in a greenlet per call on the event loop
(``bench/pwasyncio_variant.py``, write path only), did 0.62-0.80 of these threads' calls/s in the same
runs, with longer tails: everything then runs on the one loop thread. It would also replace the
store's driver layer (errors, placeholders, connection state; the sync CLI and migrations stay on
psycopg2). psycopg 3 was measured as a driver, before any pool: the store's transaction, raw, cost its
client 2.2-2.5 times psycopg2's CPU for the same two round trips, and PostgreSQL no less (``bench.drivers``).
The writer process's commands in greenlets on its own loop, over psycopg2's green mode, spent as much CPU
per call as these threads and did 0.79-1.04 of their calls/s; on 4 writer processes, one transaction at a
time each, 0.93 (docs/benchmarks.md, "PostgreSQL").

Commands for one user queue here, on the event loop, one at a time per process (``asyncio.Lock`` per
user): a second transaction on a row this process is already writing would only wait for its row
lock while holding a thread and a connection, so a hot or locked user takes at most one thread and
the other users keep the rest (a group, too, holds at most one command per user); and on a SERIALIZABLE
database (CockroachDB) writers of one row conflict only across replicas, as they did when a replica ran one
transaction at a time.

Deadlines: a call whose deadline passed while it queued is not run (DEADLINE_EXCEEDED),
as in SQLite's writer. Cancellation: a call cancelled while queued is dropped; one already running
finishes its transaction (its caller is gone; a ``request_id`` makes a retry safe).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from userservice.v1 import user_pb2

from service.context import DEADLINE
from service.errors import DeadlineExceeded
from service.storage import Store
from service.users.commands import Create
from service.users.update import Command

T = TypeVar("T")
User = user_pb2.User
#: A command whose user's turn has come: its deadline, and the future its call awaits.
Queued = tuple[Command, "float | None", "asyncio.Future[User]"]
#: At most this many commands share one transaction (two round trips for the lot).
MAX_GROUP = 16


class Threads:
    """``Writes`` (``service.users.servicer``) for PostgreSQL: update commands in groups, and what a group
    leaves alone, creates and reads on ``workers`` threads."""

    def __init__(self, store: Store, workers: int | None = None, *, inline: bool = False) -> None:
        self.store = store
        self.workers = workers or store.database.workers
        self.executor = ThreadPoolExecutor(self.workers, thread_name_prefix="database")
        #: Groups run on the event loop's thread (the writer process, whose loop does nothing else), not
        #: on a thread of the pool (a server's loop must not wait on the database).
        self.inline = inline
        #: Per user with a command here: its lock, and how many commands hold or wait for it.
        self._users: dict[tuple[int, str], tuple[asyncio.Lock, list[int]]] = {}
        #: Commands whose user's turn has come, waiting for a group; commands to run alone (``Users.run``).
        self._queued: deque[Queued] = deque()
        self._alone: deque[Queued] = deque()
        self._grouping = False  # a group is running or about to
        self._lone = 0  # commands running alone

    async def run(self, command: Command) -> User:
        key = (command.tenant_id, command.user_id)
        entry = self._users.get(key)
        if entry is None:
            entry = self._users[key] = (asyncio.Lock(), [0])
        lock, count = entry
        count[0] += 1
        try:
            async with lock:
                future: asyncio.Future[User] = asyncio.get_running_loop().create_future()
                self._queued.append((command, DEADLINE.get(), future))
                self._dispatch()
                return await future
        finally:
            count[0] -= 1
            if not count[0]:
                del self._users[key]

    def _dispatch(self) -> None:
        """Start what may start: commands to run alone, on the pool's threads (all of them when groups run
        inline, all but one when not); then, unless one is running, a group of the queued commands."""
        loop = asyncio.get_running_loop()
        while self._alone and self._lone < (self.workers if self.inline else max(1, self.workers - 1)):
            queued = self._alone.popleft()
            if not queued[2].done():  # a cancelled call's command is dropped
                self._lone += 1
                job = loop.run_in_executor(self.executor, self._job, queued[1], self.store.users.run, (queued[0],))
                job.add_done_callback(functools.partial(self._ran_alone, queued))
        if self._queued and not self._grouping:
            self._grouping = True
            if self.inline:  # after the loop's turn: the commands of the frames read with this one queue too
                loop.call_soon(self._group_inline)
            else:
                group = self._take()
                ran = loop.run_in_executor(self.executor, self._group, group)
                ran.add_done_callback(functools.partial(self._ran_group, group))

    def _take(self) -> list[Queued]:
        """The queued commands still awaited (a cancelled call's is dropped), up to ``MAX_GROUP``."""
        group: list[Queued] = []
        while self._queued and len(group) < MAX_GROUP:
            queued = self._queued.popleft()
            if not queued[2].done():
                group.append(queued)
        return group

    def _group_inline(self) -> None:
        group = self._take()
        try:
            answers: list[Any] = self._group(group)
        except Exception as exc:  # the group's answer
            answers = [exc] * len(group)
        self._answer(group, answers)

    def _ran_alone(self, queued: Queued, job: asyncio.Future[User]) -> None:
        self._lone -= 1
        error = job.exception()
        _settle(queued[2], error if error is not None else job.result())
        self._dispatch()

    def _ran_group(self, group: list[Queued], job: asyncio.Future[list[User | Exception | None]]) -> None:
        error = job.exception()
        self._answer(group, [error] * len(group) if error is not None else job.result())

    def _answer(self, group: list[Queued], answers: list[Any]) -> None:
        """Each command its answer, or a place among those to run alone; then the next group."""
        self._grouping = False
        for queued, answer in zip(group, answers, strict=True):
            if answer is None:
                self._alone.append(queued)
            else:
                _settle(queued[2], answer)
        self._dispatch()

    def _group(self, group: list[Queued]) -> list[User | Exception | None]:
        """The group's commands whose deadline has not passed (``Users.run_many``). Reads no future: it
        may run on a thread of the pool."""
        now = time.monotonic()
        late = {i for i, (_, deadline, _) in enumerate(group) if deadline is not None and now > deadline}
        try:
            done = iter(self.store.users.run_many([queued[0] for i, queued in enumerate(group) if i not in late]))
        finally:
            self.store.database.release()
        return [DeadlineExceeded("the deadline passed before the database call could start") if i in late
                else next(done) for i in range(len(group))]

    async def create(self, command: Create) -> User:
        return await self.call(self.store.users.create, command)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a database thread, awaited."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._job, DEADLINE.get(), fn, args)

    def _job(self, deadline: float | None, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        if deadline is not None and time.monotonic() > deadline:
            raise DeadlineExceeded("the deadline passed before the database call could start")
        try:
            return fn(*args)
        finally:
            self.store.database.release()

    def close(self) -> None:
        """Wait for the calls in flight, then stop the threads (after the server has drained)."""
        self.executor.shutdown(wait=True, cancel_futures=True)


def _settle(future: asyncio.Future[User], answer: Any) -> None:
    """A call's answer, unless the call is gone."""
    if future.done():
        return
    if isinstance(answer, BaseException):
        future.set_exception(answer)
    else:
        future.set_result(answer)
