"""The ``writer-process`` experiment of ``bench.variant_server`` (never shipped): UpdateUser's update in a
second process, so that the gRPC side and the write path run on the machine's two cores at once.

The server (the front) keeps gRPC, the interceptor (key check, access log) and the ``etag`` metadata; it
hands each UpdateUser's raw request bytes, with the caller and its ``If-Match``, to a writer process over a
Unix socket, and answers with the raw ``User`` bytes the writer sends back. The writer runs the shipped
``UserService.update`` on its own Store, one call after another on its event loop (the one writer of the
SQLite file), and answers each frame it reads. Frames are ``<length, call id>`` then the body:

- call: ``key_id NUL tenant_id NUL tenant NUL role NUL user_id NUL if_match NUL request-bytes``;
- answer: ``U etag NUL user-bytes``, or ``E`` and the error's text (the experiment measures the OK path).

The writer stops when its standard input closes, that is when the server that started it stops or dies.
"""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HEAD = struct.Struct("<II")


class Framed(asyncio.Protocol):
    """Splits a byte stream into frames and hands each batch of complete ones to ``on_frames``."""

    def __init__(self, on_frames: Callable[[Framed, list[tuple[int, bytes]]], None]) -> None:
        self.buffer = bytearray()
        self.on_frames = on_frames
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        pos, end, frames = 0, len(buffer), []
        while end - pos >= HEAD.size:
            size, call = HEAD.unpack_from(buffer, pos)
            if end - pos - HEAD.size < size:
                break
            frames.append((call, bytes(buffer[pos + HEAD.size: pos + HEAD.size + size])))
            pos += HEAD.size + size
        del buffer[:pos]
        if frames:
            self.on_frames(self, frames)


class Writer:
    """The front's side: starts the writer process, then sends calls and awaits their answers."""

    def __init__(self, database: str) -> None:
        self.path = str(Path(tempfile.mkdtemp(prefix="bench-writer-")) / "writer.sock")
        self.process = subprocess.Popen([sys.executable, "-m", "bench.writer_process", database, self.path],
                                        stdin=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not os.path.exists(self.path):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the writer process did not start")
            time.sleep(0.02)
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.calls = 0
        self.connection: Framed | None = None
        self._lock: asyncio.Lock | None = None

    def _answers(self, framed: Framed, frames: list[tuple[int, bytes]]) -> None:
        for call, body in frames:
            future = self.pending.pop(call)
            if not future.done():
                future.set_result(body)

    async def call(self, body: bytes) -> bytes:
        if self.connection is None:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if self.connection is None:
                    _, self.connection = await asyncio.get_running_loop().create_unix_connection(
                        lambda: Framed(self._answers), self.path)
        self.calls += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[self.calls] = future
        self.connection.transport.write(HEAD.pack(len(body), self.calls) + body)
        return await future


def serve(database: str, path: str) -> None:
    """The writer process: answer every frame with the shipped update, until standard input closes."""
    from userservice.v1 import user_service_pb2

    from service.auth import Principal
    from service.errors import ServiceError
    from service.passwords import Hasher
    from service.store import Store
    from service.users import UserService

    store = Store(database)
    store.checkpoint_in_background()
    service = UserService(store, Hasher())
    request_type = user_service_pb2.UpdateUserRequest

    def answer(body: bytes) -> bytes:
        key_id, tenant_id, tenant, role, user_id, etag, raw = body.split(b"\0", 6)
        who = Principal(key_id.decode(), int(tenant_id), tenant.decode(), role.decode(), user_id.decode() or None)
        update = service.update(who, request_type.FromString(raw), etag=etag.decode())
        try:
            update.send(None)  # an update without a password never suspends
        except StopIteration as done:
            return b"U" + done.value.etag.encode() + b"\0" + done.value.SerializeToString()
        except ServiceError as err:
            return b"E" + f"{err.code.name}: {err.message}".encode()
        update.close()
        return b"E" + b"the update suspended: this experiment takes updates without a password"

    def on_frames(framed: Framed, frames: list[tuple[int, bytes]]) -> None:
        out = []
        for call, body in frames:
            reply = answer(body)
            out.append(HEAD.pack(len(reply), call) + reply)
        framed.transport.write(b"".join(out))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_reader(sys.stdin.fileno(), lambda: os.read(sys.stdin.fileno(), 1024) or stop.set())
        server = await loop.create_unix_server(lambda: Framed(on_frames), path)
        async with server:
            await stop.wait()
        os.unlink(path)
        os.rmdir(os.path.dirname(path))
        store.close()

    asyncio.run(main())


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
