"""``userservice serve`` with parts of the service removed, for ``bench.decompose`` only (never shipped).

Run as ``python -m bench.variant_server serve ...`` (the arguments of ``userservice serve``) with
``BENCH_REMOVE`` set to a comma-separated list of parts to take out of every call. Each variant is built
by injecting subclasses into ``service.server.serve`` (``Parts``) and into the writer process
(``python -m bench.variant_server writer ...``), never by patching the service's names. Parts (each
measures what it costs under load by its absence):
- ``writer``: the writer process (``serve --no-writer-process``: the server writes itself);
- ``etag``: the ``etag`` initial metadata, which the service sends only on calls Envoy transcoded (grpc.aio
  sends it as a batch of its own), so only a REST measurement shows it;
- ``audit``: the audit row (its JSON and its INSERT);
- ``log``: the access log line;
- ``store``: the whole update (UpdateUser answers with the request's user);
- ``interceptor``: the call interceptor (only meaningful with ``store``: the servicer needs the caller);
- ``threads``: PostgreSQL's database threads (``service.dbthreads``): every read and write inline on the
  event loop, one transaction at a time, as before issue 16 (``bench.postgres``'s A/B).
The experiments of earlier rounds (``bare-sql``, ``commit-every-4``, ``ten-sqlite-calls``, ``sections``)
patched private names and were retired; their results stay in docs/benchmarks.md.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence
from typing import Any

from service import cli
from service.auth import Principal
from service.dbthreads import Threads
from service.interceptors import CallInterceptor
from service.server import Parts
from service.storage import Store
from service.storage.audit import Audit
from service.users.commands import Create
from service.users.servicer import UserService, metadata_value, send_etag
from service.users.update import Command, User
from service.writer import WriterClient, inline
from service.writer import main as writer_main

REMOVE = frozenset(filter(None, os.environ.get("BENCH_REMOVE", "").split(",")))
PARTS = frozenset({"writer", "etag", "audit", "log", "store", "interceptor", "threads"})


class NoAudit(Audit):
    def record(self, *args: Any, **kwargs: Any) -> None:
        return None


class VariantStore(Store):
    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        if "audit" in REMOVE:
            self.users.audit = NoAudit(self.database)


class VariantUsers(UserService):
    async def UpdateUser(self, request: Any, context: Any) -> Any:
        if "store" in REMOVE:
            user = request.user
            user.etag = '"0123456789abcdef"'
        else:
            who = Principal("bench", 0, "", "admin", None) if "interceptor" in REMOVE else None
            user = await self.update(who or _principal(), request, etag=metadata_value(context, "if-match"))
        if "etag" not in REMOVE:
            await send_etag(context, user)  # as shipped: only on calls Envoy transcoded
        return user


def _principal() -> Principal:
    from service.context import principal

    return principal()


class InlineThreads(Threads):
    """Every database call on the event loop itself (no threads), as the server ran before issue 16."""

    def __init__(self, store: Store, workers: int | None = None) -> None:
        self.store, self.workers = store, 1

    async def run(self, command: Command) -> User:
        return self.store.users.run(command)

    async def create(self, command: Create) -> User:
        return self.store.users.create(command)

    call = staticmethod(inline)

    def close(self) -> None:
        return None


class VariantWriter(WriterClient):
    command = (sys.executable, "-m", "bench.variant_server", "writer")


class QuietInterceptor(CallInterceptor):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs, access_log=lambda *a: None)


def parts() -> Parts:
    return Parts(store=VariantStore, users=VariantUsers, writer=VariantWriter,
                 threads=InlineThreads if "threads" in REMOVE else Threads,
                 interceptor=None if "interceptor" in REMOVE else QuietInterceptor if "log" in REMOVE
                 else CallInterceptor)


def main(argv: Sequence[str]) -> int:
    unknown = REMOVE - PARTS
    if unknown:
        raise SystemExit(f"unknown parts {sorted(unknown)}: choose from {sorted(PARTS)}")
    if argv and argv[0] == "writer":
        return writer_main(argv[1:], store_class=VariantStore)
    import asyncio

    from service import logs
    from service.server import serve

    args = cli._parser().parse_args(argv)
    logs.setup()
    settings = cli.settings(args)
    if "writer" in REMOVE:
        settings = dataclasses.replace(settings, writer_process=False)
    asyncio.run(serve(settings, parts()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
