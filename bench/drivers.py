"""The service's write transaction through each PostgreSQL driver, raw: client and server CPU per transaction.

Issue 16 names two drivers besides psycopg2: psycopg 3 and asyncpg (under ``playhouse.pwasyncio``). Before
any of them is worth a store rewrite, its own cost must be lower. This runs the statements of one UpdateUser
(the ``SELECT ... FOR UPDATE`` of all user columns, the ``UPDATE`` of two columns, etag and update time, the
audit ``INSERT ... RETURNING``, ``COMMIT``) on one connection, one transaction after another, with no
Peewee and no service code, and reads two CPU times per transaction: this process's (the client side:
the driver, its adaptation and parsing, and the kernel's loopback work on the sending side) and the
backend's (``bench.cpu.cpu_seconds`` of the PostgreSQL process serving the connection). Variants, alternating
in rounds:

- ``psycopg2``: as ``service.storage.postgres.Pooled`` sends it: ``BEGIN; EXECUTE s (...)``, then
  ``EXECUTE u (...); EXECUTE i (...); COMMIT`` (statements prepared with SQL ``PREPARE``), 2 round trips;
- ``psycopg3 pipeline``: psycopg 3 with the protocol's own prepared statements (``prepare=True``), the
  same two groups each sent in pipeline mode: 2 round trips; ``... binary``: the same with binary results;
- ``psycopg3``: the same without pipeline mode: 5 round trips;
- ``asyncpg``: its prepared statements in ``conn.transaction()`` on an asyncio loop: 5 round trips;
- ``psycopg2, groups of K`` (``--group K``, repeatable): the store's group commit (``Users.run_many``):
  K users' updates in one transaction, ``BEGIN; EXECUTE`` of the ``SKIP LOCKED`` read of their K rows,
  then the K ``UPDATE`` and K audit ``INSERT`` statements with ``COMMIT``: 2 round trips for K updates.
  Its figures are per update, not per transaction.

The drivers other than psycopg2 are not the project's dependencies; install them aside, then run:

    .venv/bin/pip install --target /tmp/drivers 'psycopg[binary]==3.3.9' asyncpg==0.32.0
    .venv/bin/python -m bench.drivers --path /tmp/drivers      # $USERSERVICE_TEST_POSTGRES, or --postgres

A variant whose driver is missing is skipped with a line saying so. Figures: docs/benchmarks.md
("PostgreSQL").
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import psycopg2

from bench import dataset
from bench.cpu import cpu_seconds
from bench.postgres import USERS, fresh_database, group_select, query, server_url, transaction_statements
from service.storage.postgres import numbered

Transaction = Callable[[list[int]], Any]  # the users of one transaction (one, or a group's)


class Rows:
    """The users of the fresh database, and the parameters of one transaction's writes."""

    def __init__(self, url: str) -> None:
        self.tenant, self.base = query(url, "SELECT min(tenant_id), min(seq) FROM users")
        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM users ORDER BY seq")
            self.ids = [row[0] for row in cur.fetchall()]
        conn.close()

    def writes(self, n: int) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        now = int(time.time() * 1e6)
        return (("Name", "Given", now, '"driversetag0000"', n + self.base),
                (self.tenant, self.ids[n], "bench", "UpdateUser", '["display_name", "given_name"]',
                 '{"display_name": "Bench User"}', '{"display_name": "Name"}', now))


def with_psycopg2(url: str, rows: Rows, group: int = 1) -> tuple[int, Transaction]:
    select, update, insert = transaction_statements()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    for name, sql in (("s", select if group == 1 else group_select(group)), ("u", update), ("i", insert)):
        cur.execute(f"PREPARE {name} AS {numbered(sql)}")
    locked = ", ".join(["%s"] * 2 * group)
    writes = "; ".join(["EXECUTE u (%s, %s, %s, %s, %s); EXECUTE i (%s, %s, %s, %s, %s, %s, %s, %s)"] * group)

    def transaction(ns: list[int]) -> Any:
        cur.execute(f"BEGIN; EXECUTE s ({locked})", [v for n in ns for v in (rows.tenant, rows.ids[n])])
        found = cur.fetchall()
        cur.execute(f"{writes}; COMMIT", [v for n in ns for part in rows.writes(n) for v in part])
        return found
    return conn.get_backend_pid(), transaction


def with_psycopg3(url: str, rows: Rows, *, pipeline: bool, binary: bool = False) -> tuple[int, Transaction]:
    import contextlib

    import psycopg

    select, update, insert = transaction_statements()
    conn = psycopg.connect(url, autocommit=True, prepare_threshold=0)
    cur = conn.cursor(binary=binary)
    group = conn.pipeline if pipeline else contextlib.nullcontext

    def transaction(ns: list[int]) -> Any:
        (n,) = ns
        with group():
            cur.execute("BEGIN")
            cur.execute(select, (rows.tenant, rows.ids[n]), prepare=True)
        row = cur.fetchone()
        first, second = rows.writes(n)
        with group():
            cur.execute(update, first, prepare=True)
            cur.execute(insert, second, prepare=True)
            cur.execute("COMMIT")
        return row
    return conn.info.backend_pid, transaction


def with_asyncpg(url: str, rows: Rows) -> tuple[int, Transaction]:
    import asyncpg

    loop = asyncio.new_event_loop()
    select, update, insert = (numbered(sql) for sql in transaction_statements())
    conn = loop.run_until_complete(asyncpg.connect(url))
    prepared = [loop.run_until_complete(conn.prepare(sql)) for sql in (select, update, insert)]

    async def run(n: int) -> Any:
        async with conn.transaction():
            row = await prepared[0].fetchrow(rows.tenant, rows.ids[n])
            first, second = rows.writes(n)
            await prepared[1].fetchval(*first)
            await prepared[2].fetchval(*second)
        return row
    return conn.get_server_pid(), lambda ns: loop.run_until_complete(run(*ns))


def own_seconds() -> float:
    times = os.times()
    return times.user + times.system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default=server_url())
    parser.add_argument("--path", action="append", default=[], help="a folder the other drivers are installed in")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--transactions", type=int, default=3000, help="updates per variant and round")
    parser.add_argument("--group", type=int, action="append", default=[],
                        help="also psycopg2 with this many users' updates per transaction (group commit)")
    args = parser.parse_args(argv)
    sys.path[:0] = args.path
    from service.passwords import make_context

    with fresh_database(args.postgres) as url:
        dataset.build_postgres(url, USERS, make_context().hash(dataset.PASSWORD))
        rows = Rows(url)
        makers: dict[str, Callable[[], tuple[int, Transaction]]] = {
            "psycopg2 (as the service sends it)": lambda: with_psycopg2(url, rows),
            "psycopg3 pipeline": lambda: with_psycopg3(url, rows, pipeline=True),
            "psycopg3 pipeline, binary results": lambda: with_psycopg3(url, rows, pipeline=True, binary=True),
            "psycopg3": lambda: with_psycopg3(url, rows, pipeline=False),
            "asyncpg": lambda: with_asyncpg(url, rows),
            **{f"psycopg2, groups of {k}": functools.partial(with_psycopg2, url, rows, k) for k in args.group}}
        variants: dict[str, tuple[int, Transaction]] = {}
        for name, make in makers.items():
            try:
                variants[name] = make()
            except ImportError as err:
                print(f"{name}: skipped ({err})", flush=True)
        print(f"us per update, {args.transactions} updates per variant and round:", flush=True)
        for round_ in range(args.rounds):
            for name, (pid, transaction) in variants.items():
                size = int(name.rsplit(" ", 1)[1]) if "groups of" in name else 1
                client, backend, wall = own_seconds(), sum(cpu_seconds(pid).values()), time.monotonic()
                for _ in range(args.transactions // size):
                    transaction(random.sample(range(USERS), size))
                n = args.transactions
                print(f"  round {round_ + 1}  {name:<36} client {(own_seconds() - client) * 1e6 / n:5.0f}  "
                      f"server {(sum(cpu_seconds(pid).values()) - backend) * 1e6 / n:5.0f}  "
                      f"wall {(time.monotonic() - wall) * 1e6 / n:6.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
