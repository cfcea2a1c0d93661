"""A/B variant (not shipped, not run by ``make bench``): PostgreSQL's write commands through Peewee 4's
``playhouse.pwasyncio`` over asyncpg, on the event loop, instead of ``service.dbthreads``' threads.

The store's own synchronous code runs in a greenlet per call (``AsyncPostgresqlDatabase.run``); each
statement awaits asyncpg (prepared statements, cached per connection) from the event loop; a call's
connection comes from asyncpg's pool (8, as the threads) and goes back when it ends. Only the write path
is moved (``store.users`` gets a second ``Database`` over the async one); keys, migrations and the CLI
stay on psycopg2, and errors are not translated for asyncpg: enough to measure throughput, not to ship.

It needs two packages the project does not install; to rerun the A/B of docs/benchmarks.md
("PostgreSQL", choices), put them beside the venv and start this module instead of ``userservice``::

    .venv/bin/pip install --target /tmp/pwasyncio asyncpg==0.32.0 greenlet==3.5.6
    PYTHONPATH=/tmp/pwasyncio .venv/bin/python -m bench.pwasyncio_variant serve --database postgresql://...
"""

from __future__ import annotations

import asyncio
import copy
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from service import cli, logs
from service.dbthreads import Threads
from service.server import Parts, serve
from service.storage import Store
from service.storage.users import Users

T = TypeVar("T")


class Greenlets(Threads):
    """``Writes`` whose commands run in a greenlet on the event loop, over asyncpg."""

    def __init__(self, store: Store, workers: int | None = None) -> None:
        from playhouse.pwasyncio import AsyncPostgresqlDatabase

        self.store, self.workers = store, workers or store.database.workers
        self.adb = AsyncPostgresqlDatabase(store.url, pool_size=self.workers, pool_min_size=self.workers)
        database = copy.copy(store.database)
        database.db = self.adb
        store.users = Users(database)
        self._users = {}

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await self.adb.run(fn, *args)  # type: ignore[no-any-return]
        finally:
            await self.adb.aclose()

    def close(self) -> None:
        return None


def main(argv: Sequence[str]) -> int:
    args = cli._parser().parse_args(argv)
    logs.setup()
    asyncio.run(serve(cli.settings(args), Parts(threads=Greenlets)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
