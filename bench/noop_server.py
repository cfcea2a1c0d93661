"""The floor: a grpc.aio server whose UpdateUser answers with the request's user and does nothing else.

Run as ``python -m bench.noop_server --port P``; it prints ``ready`` and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import grpc
from userservice.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc


class NoopUsers(user_service_pb2_grpc.UserServiceServicer):
    async def UpdateUser(self, request: user_service_pb2.UpdateUserRequest,
                         context: grpc.aio.ServicerContext) -> user_pb2.User:
        return request.user


async def main(port: int) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    user_service_pb2_grpc.add_UserServiceServicer_to_server(NoopUsers(), server)
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
    asyncio.run(main(parser.parse_args().port))
