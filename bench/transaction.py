"""CPU time of one UpdateUser write transaction in process: ``store.users.run`` on the 10,000-user dataset.

    .venv/bin/python -m bench.transaction [--calls 2000] [--postgres [URL]]

What the writer process spends per update, without gRPC, the socket crossing or the load generator;
process CPU time (user and system), so other load on the machine moves it little. ``--postgres``: the same
on a fresh PostgreSQL database (on the server of ``$USERSERVICE_TEST_POSTGRES`` unless a URL is given), one
transaction at a time on one thread: the client side of a PostgreSQL update without any thread hand-off.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import resource
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench import dataset
from service.auth import Principal
from service.storage import Store
from service.users.update import prepare_update
from tests import factories


@contextlib.contextmanager
def database(postgres: str | None) -> Iterator[str]:
    """A 10,000-user database: a SQLite file, or a fresh PostgreSQL database on ``postgres``."""
    if postgres is not None:
        from bench.postgres import fresh_database, server_url

        with fresh_database(postgres or server_url()) as url:
            dataset.build_postgres(url, 10_000, "not-a-hash")
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="bench-transaction-") as tmp:
        db = Path(tmp) / "bench.db"
        dataset.build(db, 10_000, "not-a-hash")
        yield f"sqlite:///{db}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--postgres", nargs="?", const="", default=None, metavar="URL")
    args = parser.parse_args(argv)
    with database(args.postgres) as url:
        store = Store(url)
        tenant = store.keys.tenant_id(dataset.TENANT)
        assert tenant is not None
        who = Principal("bench", tenant, dataset.TENANT, "admin", None)
        rng = random.Random(1)
        commands = [prepare_update(who, factories.update(
            dataset.user_id(rng.randrange(10_000), 4), ["display_name", "given_name"], display_name=f"Name {i}",
            given_name=f"Given {i}")) for i in range(1000 + args.calls)]
        # Each PostgreSQL call gives its pooled connection back, as the server's do (service.dbthreads).
        release = store.database.release if not store.is_sqlite else (lambda: None)
        for command in commands[:1000]:  # warm-up
            store.users.run(command)
            release()
        before = resource.getrusage(resource.RUSAGE_SELF)
        for command in commands[1000:]:
            store.users.run(command)
            release()
        after = resource.getrusage(resource.RUSAGE_SELF)
        store.close()
    user, system = ((a - b) / args.calls * 1e6 for a, b in ((after.ru_utime, before.ru_utime),
                                                            (after.ru_stime, before.ru_stime)))
    print(f"{user + system:.0f} us of CPU per write transaction ({user:.0f} user, {system:.0f} system;"
          f" {args.calls} updates on {'PostgreSQL' if args.postgres is not None else 'SQLite'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
