"""The floor: a grpc.aio server whose UpdateUser answers with the request's user and does nothing else.

Run as ``python -m bench.noop_server --port P``; it prints ``ready`` and serves until SIGTERM.

``bench.envoy_floor`` also runs it with ``--delay-ms`` (each call waits that long on the event loop before
answering, so that Envoy in front of it carries calls at the service's rate, not the no-op's) and with
``--etag`` (on calls Envoy transcoded it sends the initial metadata ``etag`` as the service does,
docs/api.md "Etags") and ``--reply FILE`` (it answers with that serialized ``User``, a whole stored user, so
that Envoy transcodes a reply of the service's size).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

import grpc
from userservice.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc


class NoopUsers(user_service_pb2_grpc.UserServiceServicer):
    def __init__(self, delay: float = 0.0, etag: bool = False, reply: user_pb2.User | None = None) -> None:
        self.delay, self.etag, self.reply = delay, etag, reply

    async def UpdateUser(self, request: user_service_pb2.UpdateUserRequest,
                         context: grpc.aio.ServicerContext) -> user_pb2.User:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.etag and any(key == "x-envoy-original-path" for key, _ in context.invocation_metadata() or ()):
            await context.send_initial_metadata((("etag", '"noop"'),))
        return self.reply or request.user


async def main(port: int, delay_ms: float, etag: bool, reply: user_pb2.User | None) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    user_service_pb2_grpc.add_UserServiceServicer_to_server(NoopUsers(delay_ms / 1000, etag, reply), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await server.stop(1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--etag", action="store_true")
    parser.add_argument("--reply", type=Path)
    args = parser.parse_args()
    stored = user_pb2.User.FromString(args.reply.read_bytes()) if args.reply else None
    asyncio.run(main(args.port, args.delay_ms, args.etag, stored))
