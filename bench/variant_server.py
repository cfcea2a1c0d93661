"""``userservice serve`` with parts of the service removed, for ``bench.decompose`` only (never shipped).

Run as ``python -m bench.variant_server serve ...`` (the arguments of ``userservice serve``) with
``BENCH_REMOVE`` set to a comma-separated list of parts to take out of every call:

- ``etag``: the ``etag`` initial metadata (grpc.aio sends it as a batch of its own);
- ``audit``: the audit row (its JSON and its INSERT);
- ``log``: the access log line;
- ``store``: the whole update (UpdateUser answers with the request's user, etag and all);
- ``interceptor``: the call interceptor (no authentication, decoding, error mapping or log; only
  meaningful with ``store``, since the servicer needs the caller it sets).

Each variant measures what one part costs under load by its absence; none of them is a mode of the service.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from service import logs, store, users
from service import server as server_module

REMOVE = frozenset(filter(None, os.environ.get("BENCH_REMOVE", "").split(",")))
PARTS = frozenset({"etag", "audit", "log", "store", "interceptor"})


def _apply() -> None:
    unknown = REMOVE - PARTS
    if unknown:
        raise SystemExit(f"unknown parts {sorted(unknown)}: choose from {sorted(PARTS)}")
    if "etag" in REMOVE:
        async def no_etag(context: Any, user: Any) -> None:
            return None
        users.send_etag = no_etag
    if "log" in REMOVE:
        logs.access = lambda *args: None
    if "audit" in REMOVE:
        store.Store._audit = lambda self, *args: None  # type: ignore[method-assign]
    if "store" in REMOVE:
        async def update_user(self: Any, request: Any, context: Any) -> Any:
            user = request.user
            user.etag = '"0123456789abcdef"'
            await users.send_etag(context, user)
            return user
        users.UserService.UpdateUser = update_user  # type: ignore[method-assign]
    if "interceptor" in REMOVE:
        real = server_module.grpc.aio.server

        def no_interceptors(*args: Any, **kwargs: Any) -> Any:
            kwargs.pop("interceptors", None)
            return real(*args, **kwargs)
        server_module.grpc.aio.server = no_interceptors


if __name__ == "__main__":
    _apply()
    from service.cli import main

    sys.exit(main(sys.argv[1:]))
