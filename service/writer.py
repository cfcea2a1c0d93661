"""SQLite's one writer, in a process of its own.

On SQLite, ``userservice serve`` runs two processes: the server (gRPC, Envoy's upstream, key checks,
access log, every read) and this writer, its child, which runs every call that writes. The server's
call interceptor hands such a call over as it came (method, caller, metadata, raw request bytes); the
writer runs the same servicer method on its own Store and hands back the raw reply and its initial
metadata (the ``etag``), or the status to abort with. So the gRPC side and the write path run on two
cores at once, and the SQLite file still has one writer process, whose transactions never interleave
(each has no ``await`` inside, as before).

Measured (docs/benchmarks.md): UpdateUser from 0.32 to 0.42 of the no-op floor in one run on the
2-core machine (+13% to +49% throughput in same-run A/Bs), because the server's event loop, which
bounded throughput, no longer runs the transactions. PostgreSQL needs none of this: every server
process writes itself.

The two talk over a socket pair the server makes and the writer inherits, in frames of
``<length, call id>`` then a pickled body (the peer is our own child; nothing else can reach the
socket). The writer stops when the socket closes: when the server stops, or dies (it ignores SIGINT and
SIGTERM, which a terminal or a service manager may send to the whole process group). If the writer
dies, its pending calls get UNAVAILABLE (clients retry; a ``request_id`` makes that safe) and the
next call starts a new one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import functools
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Coroutine, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from userservice.v1 import user_service_pb2, user_service_pb2_grpc

from service import metrics
from service.auth import Principal
from service.context import PRINCIPAL
from service.errors import InvalidArgument, ServiceError, Unavailable, Violation, internal_status, to_grpc_status

log = logging.getLogger("userservice")
HEAD = struct.Struct("<II")
START_TIMEOUT_S = 60.0
#: UserService calls that only read: served by the server itself. Every other protected method writes
#: (or may: the seed adapters all update a user) and runs in the writer.
READS = frozenset(f"/{user_service_pb2.DESCRIPTOR.services_by_name['UserService'].full_name}/{name}"
                  for name in ("GetUser", "ListUsers", "ListUserChanges"))

Metadata = tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Answer:
    """A relayed call's outcome: the raw reply and its initial metadata, or the status to abort with."""

    code: grpc.StatusCode
    reply: bytes = b""
    initial_metadata: Metadata = ()
    details: str = ""
    trailing_metadata: Metadata = ()

    def dumps(self) -> bytes:
        return pickle.dumps((self.code.value[0], self.reply, self.initial_metadata, self.details,
                             self.trailing_metadata), pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def loads(body: bytes) -> Answer:
        code, reply, initial, details, trailing = pickle.loads(body)
        return Answer(_CODES[code], reply, initial, details, trailing)


_CODES = {code.value[0]: code for code in grpc.StatusCode}


class _Frames(asyncio.Protocol):
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


class Writer:
    """The server's side: starts the writer process and relays calls to it."""

    #: How the writer process is started (``bench.variant_server`` starts its own, with the same arguments).
    command: tuple[str, ...] = (sys.executable, "-m", "service.writer")

    def __init__(self, database: str, *, hash_workers: int = 1, busy_timeout_ms: int = 5000,
                 max_page_count: int | None = None) -> None:
        self.args = ["--database", database, "--hash-workers", str(hash_workers),
                     "--busy-timeout-ms", str(busy_timeout_ms)]
        if max_page_count:
            self.args += ["--sqlite-max-page-count", str(max_page_count)]
        self.process: subprocess.Popen[bytes] | None = None
        self.frames: _Frames | None = None
        self.pending: dict[int, asyncio.Future[Answer]] = {}
        self.calls = 0
        self._starting = asyncio.Lock()  # one start at a time (asyncio locks bind to a loop on first use)

    async def start(self) -> None:
        """Start the writer process (if none is running) and wait until it answers."""
        async with self._starting:
            if self.frames is not None:
                return
            metrics.writer_starting(self.process)
            ours, theirs = socket.socketpair()
            with theirs:
                self.process = subprocess.Popen(
                    [*self.command, "--fd", str(theirs.fileno()), *self.args],
                    pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[Answer] = loop.create_future()
            self.pending[0] = ready  # the writer's first frame, once its Store is open
            _, frames = await loop.create_unix_connection(lambda: _Frames(self._answers, self._lost), sock=ours)
            self.frames = frames
            try:
                await asyncio.wait_for(ready, START_TIMEOUT_S)
            except (TimeoutError, ServiceError) as exc:
                self._close()
                raise RuntimeError("the writer process did not start") from exc

    async def call(self, method: str, who: Principal | None, metadata: Iterable[Any], raw: bytes) -> Answer:
        """Run ``method`` in the writer; raises ``Unavailable`` if the writer stops before it answers."""
        if self.frames is None:
            try:
                await self.start()
            except RuntimeError as exc:
                raise Unavailable("the writer process cannot start; retry", reason="WRITER_UNAVAILABLE") from exc
        assert self.frames is not None
        self.calls += 1
        call = self.calls
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.pending[call] = future
        caller = (who.key_id, who.tenant_id, who.tenant, who.role, who.user_id) if who else None
        body = pickle.dumps((method, caller, tuple((k, v) for k, v in metadata), raw), pickle.HIGHEST_PROTOCOL)
        self.frames.send(call, body)
        return await future

    def _answers(self, frames: list[tuple[int, bytes]]) -> None:
        for call, body in frames:
            future = self.pending.pop(call, None)
            if future is not None and not future.done():
                future.set_result(Answer.loads(body))

    def _lost(self) -> None:
        """The writer closed its end (it stopped or died): fail what it had not answered."""
        self.frames = None
        pending, self.pending = self.pending, {}
        if pending:
            log.error("the writer process stopped", extra={"event": "writer_lost"})
        for future in pending.values():
            if not future.done():
                future.set_exception(Unavailable("the writer process stopped; retry",
                                                 reason="WRITER_UNAVAILABLE"))
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


class _Context:
    """What a servicer method uses of its gRPC context, inside the writer."""

    __slots__ = ("initial", "metadata")

    def __init__(self, metadata: Metadata) -> None:
        self.metadata = metadata
        self.initial: Metadata = ()

    def invocation_metadata(self) -> Metadata:
        return self.metadata

    async def send_initial_metadata(self, metadata: Sequence[tuple[str, Any]]) -> None:
        self.initial = tuple(metadata)


class _Collector:
    """Stands in for a grpc server to collect the generated method handlers of the servicers."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}  # method -> grpc.RpcMethodHandler

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.handlers.update({f"/{service}/{name}": handler for name, handler in handlers.items()})


class _Resume:
    """Awaits the rest of a coroutine that was started by hand and is waiting on ``waiting``."""

    __slots__ = ("coroutine", "waiting")

    def __init__(self, coroutine: Coroutine[Any, Any, None], waiting: Any) -> None:
        self.coroutine, self.waiting = coroutine, waiting

    def __await__(self) -> Generator[Any, None, None]:
        waiting = self.waiting
        while True:
            try:
                yield waiting  # the task waits for it, as it would have for the coroutine itself
            except BaseException as exc:
                send: Callable[[], Any] = functools.partial(self.coroutine.throw, exc)
            else:
                send = functools.partial(self.coroutine.send, None)
            try:
                waiting = send()
            except StopIteration:
                return


async def _resume(coroutine: Coroutine[Any, Any, None], waiting: Any) -> None:
    await _Resume(coroutine, waiting)


def _status(err: ServiceError | None) -> Answer:
    status = to_grpc_status(err) if err is not None else internal_status()
    return Answer(status.code, details=status.details, trailing_metadata=tuple(status.trailing_metadata))


async def _serve(sock: socket.socket, database: str, hash_workers: int, busy_timeout_ms: int,
                 max_page_count: int | None) -> None:
    from service import compat
    from service.auth import Authenticator
    from service.passwords import Hasher
    from service.store import Store
    from service.users import UserService

    store = Store(database, busy_timeout_ms=busy_timeout_ms, max_page_count=max_page_count)
    store.checkpoint_in_background()
    hasher = Hasher(workers=hash_workers)
    users = UserService(store, hasher)
    collector = _Collector()
    user_service_pb2_grpc.add_UserServiceServicer_to_server(users, collector)  # type: ignore[no-untyped-call]
    compat.add_to_server(collector, users, Authenticator(store))  # type: ignore[arg-type]
    handlers = collector.handlers
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()
    running: set[asyncio.Task[None]] = set()

    async def run(call: int, body: bytes) -> None:
        method, who, metadata, raw = pickle.loads(body)
        try:
            handler = handlers[method]
            try:
                request = handler.request_deserializer(raw)
            except (DecodeError, ValueError):
                raise InvalidArgument([Violation("request", "not a valid protobuf message")]) from None
            if who is not None:
                PRINCIPAL.set(Principal(*who))
            context = _Context(metadata)
            reply = await handler.unary_unary(request, context)
            answer = Answer(grpc.StatusCode.OK, handler.response_serializer(reply), context.initial)
        except ServiceError as err:
            answer = _status(err)
        except Exception:
            log.exception("unexpected error", extra={"method": method.rsplit("/", 1)[-1]})
            answer = _status(None)
        if frames.transport is not None:
            frames.send(call, answer.dumps())

    def on_frames(batch: list[tuple[int, bytes]]) -> None:
        frames.corked = True  # the answers of calls that finish here leave together, at the end
        try:
            for call, body in batch:
                start(call, body)
        finally:
            frames.corked = False
            frames.flush()

    def start(call: int, body: bytes) -> None:
        """Run one call in a context of its own (so PRINCIPAL is per call), here to its end unless it
        waits (for a password hash): then a task finishes it. Calls start in arrival order, and a
        transaction never awaits, so none interleave."""
        context = contextvars.Context()
        coroutine = run(call, body)
        try:
            waiting = context.run(coroutine.send, None)
        except StopIteration:
            return
        task = loop.create_task(_resume(coroutine, waiting), context=context)
        running.add(task)
        task.add_done_callback(running.discard)

    _, frames = await loop.create_unix_connection(lambda: _Frames(on_frames, closed.set), sock=sock)
    frames.send(0, Answer(grpc.StatusCode.OK).dumps())
    try:
        await closed.wait()
        if running:  # the server stopped: finish what was handed over (a hash may still be running)
            await asyncio.wait(running)
    finally:
        hasher.close()
        store.close()


def main(argv: Sequence[str] | None = None) -> int:
    from service import logs

    parser = argparse.ArgumentParser(prog="python -m service.writer", description="SQLite's writer process")
    parser.add_argument("--fd", type=int, required=True, help="the socket inherited from the server")
    parser.add_argument("--database", required=True)
    parser.add_argument("--hash-workers", type=int, default=1)
    parser.add_argument("--busy-timeout-ms", type=int, default=5000)
    parser.add_argument("--sqlite-max-page-count", type=int, default=None)
    args = parser.parse_args(argv)
    logs.setup()
    # Ctrl-C, or a service manager that signals the whole process group, would otherwise stop the writer
    # while the server still drains calls that need it: it stops when the server closes the socket.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    sock = socket.socket(fileno=args.fd)
    os.set_blocking(sock.fileno(), False)
    asyncio.run(_serve(sock, args.database, args.hash_workers, args.busy_timeout_ms, args.sqlite_max_page_count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
