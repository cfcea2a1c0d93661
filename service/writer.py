"""Where write commands run: in this process (``InProcess``), or in the writer process.

``userservice serve`` runs two processes: the server (gRPC, Envoy's upstream, key checks, the update
pipeline's preparation, password hashing, the access log, every read) and this writer, its child, which owns
the Store's writes. On SQLite the writer runs one transaction at a time, and the server reads its file
inline. On PostgreSQL the writer commits the update commands of different users that queue together in one
transaction, on its own event loop, and runs what a group leaves alone on its database threads
(``service.dbthreads.Threads``: group commit, one command per user at a time), answering each command as it
finishes; the server reads on database threads of its own. So the gRPC event loop and the transactions never
take turns on one interpreter lock (docs/benchmarks.md, "PostgreSQL: group commit"). The servicer hands a
*typed write command* (``service.users.update``: ``Update``, ``SetState``, ``SetPassword``, ``RecordLogin``,
``Create``) to ``Writes.run``/``create``; ``WriterClient`` sends it over a socket pair, with the caller's
deadline, and the writer runs it in its Store's transaction and sends back the user or the domain error. The
servicer code is the same in both modes, and no list says which RPC writes: what crosses is a write.

Why typed commands rather than a second gRPC server on a Unix socket: the command is what the store
runs anyway, so the writer needs no servicer, context or handlers of its own, and a crossing costs
one small pickled frame each way instead of an HTTP/2 call through a second grpc.aio server
(`bench/crossing.py`; docs/benchmarks.md, "The writer boundary, A/B").

Deadlines: a command whose deadline has passed when the writer reaches it is not run
(DEADLINE_EXCEEDED). Cancellation: a call cancelled while its command waits sends a cancel frame; on
SQLite the writer skips a command cancelled in the same read, on PostgreSQL one still queued for a
thread. On SQLite transactions never interleave: the writer runs one at a time. If the writer dies,
its pending calls get UNAVAILABLE (``WRITER_UNAVAILABLE``; clients retry, a ``request_id`` makes that
safe) and the next call starts a new one. It stops when the socket closes, after the transactions in
flight (it ignores SIGINT and SIGTERM, which a terminal or a service manager may send to the whole
process group while the server still drains).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from userservice.v1 import user_pb2

from service import metrics
from service.context import DEADLINE
from service.dbthreads import Threads
from service.errors import DeadlineExceeded, Internal, ServiceError, Unavailable
from service.settings import Settings
from service.storage import Store
from service.users.commands import Create
from service.users.update import Command

log = logging.getLogger("userservice")
HEAD = struct.Struct("<II")
START_TIMEOUT_S = 60.0
CANCEL = b"cancel"
User = user_pb2.User
T = TypeVar("T")


async def inline(fn: Callable[..., T], *args: Any) -> T:
    """A read on SQLite: here, on the event loop (a local file read never waits on a lock for long)."""
    return fn(*args)


class InProcess:
    """Write commands run here, on the Store of this process (SQLite's ``--no-writer-process``, tests).

    PostgreSQL's server uses ``service.dbthreads.Threads`` instead.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    call = staticmethod(inline)

    async def run(self, command: Command) -> User:
        return self.store.users.run(command)

    async def create(self, command: Create) -> User:
        return self.store.users.create(command)


class Frames(asyncio.Protocol):
    """A byte stream cut into frames; each batch of complete frames goes to ``on_frames``."""

    def __init__(self, on_frames: Callable[[list[tuple[int, bytes]]], None],
                 on_lost: Callable[[], None]) -> None:
        self.buffer = bytearray()
        self.on_frames, self.on_lost = on_frames, on_lost
        self.transport: asyncio.Transport | None = None
        self.outgoing: list[bytes] = []
        self.corked = False  # while set, ``send`` only queues: the caller flushes

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.on_lost()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        pos, end, frames = 0, len(buffer), []
        while end - pos >= HEAD.size:
            size, call = HEAD.unpack_from(buffer, pos)
            if end - pos - HEAD.size < size:
                break
            frames.append((call, bytes(buffer[pos + HEAD.size:pos + HEAD.size + size])))
            pos += HEAD.size + size
        del buffer[:pos]
        if frames:
            self.on_frames(frames)

    def send(self, call: int, body: bytes) -> None:
        """Queue a frame; the frames of one event-loop turn leave together, in one write."""
        if self.transport is None:
            raise ConnectionError("the writer connection is closed")
        if not self.outgoing and not self.corked:
            asyncio.get_running_loop().call_soon(self.flush)
        self.outgoing += (HEAD.pack(len(body), call), body)

    def flush(self) -> None:
        if self.transport is not None and self.outgoing:
            self.transport.write(b"".join(self.outgoing))
        self.outgoing.clear()


class WriterClient:
    """The server's side: starts the writer process and sends it write commands. ``reads``: where the
    server's reads run (PostgreSQL: its database threads); None: inline, on the loop (SQLite)."""

    #: How the writer process is started (a benchmark variant injects a subclass with another command).
    command: tuple[str, ...] = (sys.executable, "-m", "service.writer")

    def __init__(self, settings: Settings, reads: Threads | None = None) -> None:
        self.settings = settings
        self.reads = reads
        self.process: subprocess.Popen[bytes] | None = None
        self.frames: Frames | None = None
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.calls = 0
        self._starting = asyncio.Lock()  # one start at a time

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """A read, in the server process."""
        return await (self.reads.call(fn, *args) if self.reads is not None else inline(fn, *args))

    async def start(self) -> None:
        """Start the writer process (if none is running) and wait until its Store is open."""
        async with self._starting:
            if self.frames is not None:
                return
            metrics.writer_starting(self.process)
            ours, theirs = socket.socketpair()
            with theirs:
                self.process = subprocess.Popen(
                    [*self.command, "--fd", str(theirs.fileno()), "--settings", self.settings.dumps()],
                    pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[Any] = loop.create_future()
            self.pending[0] = ready  # the writer's first frame, once its Store is open
            _, frames = await loop.create_unix_connection(lambda: Frames(self._answers, self._lost), sock=ours)
            self.frames = frames
            try:
                await asyncio.wait_for(ready, START_TIMEOUT_S)
            except (TimeoutError, ServiceError) as exc:
                self._close()
                raise RuntimeError("the writer process did not start") from exc

    async def run(self, command: Command) -> User:
        return await self._call("run", command)

    async def create(self, command: Create) -> User:
        return await self._call("create", command)

    async def _call(self, kind: str, command: Any) -> User:
        """Run ``command`` in the writer; raises its error, or ``Unavailable`` if the writer stops first."""
        if self.frames is None:
            try:
                await self.start()
            except RuntimeError as exc:
                raise Unavailable("the writer process cannot start; retry", reason="WRITER_UNAVAILABLE") from exc
        frames = self.frames
        assert frames is not None
        self.calls += 1
        call = self.calls
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[call] = future
        frames.send(call, pickle.dumps((kind, command, DEADLINE.get()), pickle.HIGHEST_PROTOCOL))
        try:
            ok, value = await future
        except asyncio.CancelledError:
            if self.pending.pop(call, None) is not None and frames.transport is not None:
                frames.send(call, CANCEL)
            raise
        if not ok:
            raise value
        return User.FromString(value)

    def _answers(self, frames: list[tuple[int, bytes]]) -> None:
        for call, body in frames:
            future = self.pending.pop(call, None)
            if future is not None and not future.done():
                future.set_result(pickle.loads(body))

    def _lost(self) -> None:
        """The writer closed its end (it stopped or died): fail what it had not answered."""
        self.frames = None
        pending, self.pending = self.pending, {}
        if pending:
            log.error("the writer process stopped", extra={"event": "writer_lost"})
        for future in pending.values():
            if not future.done():
                future.set_exception(Unavailable("the writer process stopped; retry", reason="WRITER_UNAVAILABLE"))
        if self.process is not None:
            self.process.poll()  # reap it if it is gone

    def _close(self) -> None:
        if self.frames is not None and self.frames.transport is not None:
            self.frames.transport.close()

    async def stop(self, timeout: float = 10.0) -> None:
        """Close the socket (the writer finishes what it runs, then exits); kill it after ``timeout``."""
        self._close()
        if self.process is not None:
            process = self.process
            try:
                await asyncio.get_running_loop().run_in_executor(None, process.wait, timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def execute(store: Store, body: bytes) -> tuple[bool, Any]:
    """Run one command frame: ``(True, user bytes)`` or ``(False, the error)``."""
    kind, command, deadline = pickle.loads(body)
    if deadline is not None and time.monotonic() > deadline:
        return False, DeadlineExceeded("the deadline passed before the write could start")
    try:
        user = store.users.create(command) if kind == "create" else store.users.run(command)
    except Exception as exc:
        return failure(command, kind, exc)
    return True, user.SerializeToString()


def failure(command: Any, kind: str, exc: BaseException) -> tuple[bool, Any]:
    """A command's error as its answer: the domain error itself, anything else hidden behind INTERNAL."""
    if isinstance(exc, ServiceError):
        return False, exc
    log.error("unexpected error", exc_info=exc, extra={"method": getattr(command, "method", kind)})
    return False, Internal("internal error")


class Concurrent:
    """PostgreSQL: each command to ``Threads`` as it arrives (grouped there), its answer sent when it finishes."""

    def __init__(self, store: Store) -> None:
        self.threads = Threads(store, inline=True)
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def on_frames(self, frames: Frames, batch: list[tuple[int, bytes]]) -> None:
        for call, body in batch:
            if body == CANCEL:  # still queued: dropped; already running: it finishes, unanswered
                task = self.tasks.pop(call, None)
                if task is not None:
                    task.cancel()
            else:
                self.tasks[call] = asyncio.ensure_future(self._run(frames, call, body))

    async def _run(self, frames: Frames, call: int, body: bytes) -> None:
        kind, command, deadline = pickle.loads(body)
        DEADLINE.set(deadline)  # Threads does not start it once passed
        try:
            user = await (self.threads.create(command) if kind == "create" else self.threads.run(command))
            answer: tuple[bool, Any] = (True, user.SerializeToString())
        except asyncio.CancelledError:
            return
        except Exception as exc:
            answer = failure(command, kind, exc)
        finally:
            self.tasks.pop(call, None)
        if frames.transport is not None:
            frames.send(call, pickle.dumps(answer, pickle.HIGHEST_PROTOCOL))

    async def close(self) -> None:
        """The server is gone: let the transactions in flight finish, then stop the threads."""
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.threads.close()


async def _serve(sock: socket.socket, settings: Settings, store_class: type[Store]) -> None:
    store = store_class(settings.database, busy_timeout_ms=settings.busy_timeout_ms,
                        max_page_count=settings.sqlite_max_page_count, pool_size=settings.pool_size)
    store.checkpoint_in_background()
    closed = asyncio.Event()
    concurrent = None if store.is_sqlite else Concurrent(store)

    def on_frames(batch: list[tuple[int, bytes]]) -> None:
        """SQLite: run the commands of one read in order (cancelled ones skipped); their answers leave
        together. PostgreSQL: hand each to ``Concurrent``."""
        if concurrent is not None:
            concurrent.on_frames(frames, batch)
            return
        cancelled = {call for call, body in batch if body == CANCEL}
        frames.corked = True
        try:
            for call, body in batch:
                if body != CANCEL and call not in cancelled:
                    frames.send(call, pickle.dumps(execute(store, body), pickle.HIGHEST_PROTOCOL))
        finally:
            frames.corked = False
            frames.flush()

    _, frames = await asyncio.get_running_loop().create_unix_connection(
        lambda: Frames(on_frames, closed.set), sock=sock)
    frames.send(0, pickle.dumps((True, b"")))
    try:
        await closed.wait()
        if concurrent is not None:
            await concurrent.close()
    finally:
        store.close()


def main(argv: Sequence[str] | None = None, store_class: type[Store] = Store) -> int:
    from service import logs

    parser = argparse.ArgumentParser(prog="python -m service.writer", description="SQLite's writer process")
    parser.add_argument("--fd", type=int, required=True, help="the socket inherited from the server")
    parser.add_argument("--settings", required=True, help="the server's Settings, as JSON")
    args = parser.parse_args(argv)
    logs.setup()
    for sig in (signal.SIGINT, signal.SIGTERM):  # it stops when the server closes the socket
        signal.signal(sig, signal.SIG_IGN)
    sock = socket.socket(fileno=args.fd)
    os.set_blocking(sock.fileno(), False)
    asyncio.run(_serve(sock, Settings.loads(args.settings), store_class))
    return 0


if __name__ == "__main__":
    sys.exit(main())
