"""The service in this process: a real grpc.aio server (interceptor included) on port 0 over a temp database.

For the rules: fast, and the same servicer, store and interceptor that ``userservice serve`` runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
from userservice.v1 import user_service_pb2_grpc

from service.auth import new_key
from service.passwords import Hasher, make_context
from service.server import create_server
from service.storage import Store


@dataclass
class Running:
    stub: user_service_pb2_grpc.UserServiceStub
    admin: tuple[tuple[str, str], ...]  # metadata of an admin key of tenant "acme"
    store: Store


@asynccontextmanager
async def service(url: str, key: str | None = None) -> AsyncIterator[Running]:
    """Serve ``url`` until the block ends; ``key``: an admin key made earlier (a restart keeps keys)."""
    store = Store(url)
    if key is None:
        key_id, key, secret_hash = new_key()
        store.keys.create_key("acme", "admin", None, secret_hash, key_id)
    hasher = Hasher(make_context(memory_kib=1024, rounds=1))
    running = await create_server(store, hasher)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield Running(user_service_pb2_grpc.UserServiceStub(channel), (("authorization", f"Bearer {key}"),), store)
    finally:
        await channel.close()
        await running.server.stop(0)
        hasher.close()
        store.close()
