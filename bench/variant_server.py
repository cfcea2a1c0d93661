"""``userservice serve`` with parts of the service removed or changed, for ``bench.decompose`` only (never shipped).

Run as ``python -m bench.variant_server serve ...`` (the arguments of ``userservice serve``) with
``BENCH_REMOVE`` set to a comma-separated list of parts to take out of, or experiments to run in, every
call. The server starts its writer process as ``python -m bench.variant_server writer ...``, so the
same parts are taken out of both processes. Parts (each measures what it costs under load by its absence):

- ``writer``: the writer process (``serve --no-writer-process``: the server writes itself, as before);
- ``etag``: the ``etag`` initial metadata (grpc.aio sends it as a batch of its own);
- ``audit``: the audit row (its JSON and its INSERT);
- ``log``: the access log line;
- ``store``: the whole update (UpdateUser answers with the request's user, etag and all; in the writer,
  so the hand-over to it stays unless ``writer`` goes too);
- ``interceptor``: the call interceptor (no authentication, decoding, error mapping, log or hand-over to
  the writer; only meaningful with ``store``, since the servicer needs the caller it sets).

Experiments (each tests one idea for the write path; none is safe to ship as it is):

- ``bare-sql``: UpdateUser as its five SQL statements (BEGIN IMMEDIATE, the read, the UPDATE, the audit
  INSERT, COMMIT) and the reply built from the row: no mask, validation or other Python logic, so what
  any implementation of this transaction costs at least;
- ``commit-every-4``: a SQLite write transaction stays open and commits every fourth write, which is
  what a group commit could save at most (a crash loses up to three acknowledged writes: never ship);
- ``ten-sqlite-calls``: ten more ``SELECT 1`` per update, each of which releases and takes back the
  GIL, to see what one sqlite3 call costs under load;
- ``sections``: the service as shipped, with the thread CPU time of each part of ``UserService.update``
  (begin, read, row to message, audit, commit, and the rest) written to the log every 4,000 updates.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from service import logs, store, users
from service import server as server_module

REMOVE = frozenset(filter(None, os.environ.get("BENCH_REMOVE", "").split(",")))
PARTS = frozenset({"writer", "etag", "audit", "log", "store", "interceptor"})
EXPERIMENTS = frozenset({"bare-sql", "commit-every-4", "ten-sqlite-calls", "sections"})
SECTIONS_EVERY = 4000


def _apply() -> None:
    unknown = REMOVE - PARTS - EXPERIMENTS
    if unknown:
        raise SystemExit(f"unknown parts {sorted(unknown)}: choose from {sorted(PARTS | EXPERIMENTS)}")
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
    if "bare-sql" in REMOVE:
        _bare_sql()
    if "commit-every-4" in REMOVE:
        _commit_every(4)
    if "ten-sqlite-calls" in REMOVE:
        _more_sqlite_calls(10)
    if "sections" in REMOVE:
        _sections()


def _bare_sql() -> None:
    """UpdateUser as its five SQL statements and the reply, with no mask, validation or other Python logic."""
    import json

    async def update_user(self: Any, request: Any, context: Any) -> Any:
        who = users.principal()
        db = self.store
        conn = db.db.connection()
        user = request.user
        now = store.now_micros()
        etag = store.new_etag()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(db._select_user_sql("id", True), (who.tenant_id, user.id)).fetchone()
            conn.execute("UPDATE users SET display_name = ?, given_name = ?, etag = ?, update_time = ? "
                         "WHERE seq = ?", (user.display_name, user.given_name, etag, now, row[0]))
            conn.execute("INSERT INTO user_changes (tenant_id, user_id, key_id, method, paths, old_values, "
                         "new_values, change_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (who.tenant_id, user.id, who.key_id, "UpdateUser", '["display_name","given_name"]',
                          json.dumps({"display_name": row[5], "given_name": row[6]}),
                          json.dumps({"display_name": user.display_name, "given_name": user.given_name}), now))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        updated = store.row_to_user(row)
        updated.display_name, updated.given_name, updated.etag = user.display_name, user.given_name, etag
        updated.update_time.FromMicroseconds(now)
        await users.send_etag(context, updated)
        return updated
    users.UserService.UpdateUser = update_user  # type: ignore[method-assign]


def _commit_every(n: int) -> None:
    writes = [0]

    def enter(self: Any) -> None:
        self.conn = self.store.db.connection()
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")

    def exit_(self: Any, kind: Any, exc: Any, tb: Any) -> None:
        if kind is not None:
            self.conn.rollback()
            return
        writes[0] += 1
        if writes[0] % n == 0:
            self.conn.commit()
    store._Transaction.__enter__ = enter  # type: ignore[method-assign]
    store._Transaction.__exit__ = exit_  # type: ignore[method-assign,assignment]


def _more_sqlite_calls(n: int) -> None:
    real = store.Store._update

    def update(self: Any, *args: Any, **kwargs: Any) -> Any:
        conn = self.db.connection()
        for _ in range(n):
            conn.execute("SELECT 1").fetchone()
        return real(self, *args, **kwargs)
    store.Store._update = update  # type: ignore[method-assign]


def _sections() -> None:
    spent: Counter[str] = Counter()
    calls = [0]

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.thread_time() - start
        return run

    timed_parts: tuple[tuple[str, Any, str], ...] = (  # (name, what holds it, attribute), in report order
        ("begin", store._Transaction, "__enter__"), ("read", store.Store, "_fetch"),
        ("row to message", store, "row_to_user"), ("audit", store.Store, "_audit"),
        ("commit", store._Transaction, "__exit__"))
    for name, owner, attribute in timed_parts:
        setattr(owner, attribute, timed(name, getattr(owner, attribute)))
    real = users.UserService.update

    async def update(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return await real(self, *args, **kwargs)
        finally:
            spent["update"] += time.thread_time() - start
            calls[0] += 1
            if calls[0] % SECTIONS_EVERY == 0:
                parts = {name: spent[name] for name, _, _ in timed_parts}
                parts["the rest"] = spent["update"] - sum(parts.values())
                parts["whole update"] = spent["update"]
                line = ", ".join(f"{name} {seconds * 1e6 / SECTIONS_EVERY:.0f}" for name, seconds in parts.items())
                print(f"sections (thread CPU us per update): {line}", file=sys.stderr, flush=True)
                spent.clear()
    users.UserService.update = update  # type: ignore[method-assign]


if __name__ == "__main__":
    _apply()
    from service import writer

    writer.Writer.command = (sys.executable, "-m", "bench.variant_server", "writer")
    if sys.argv[1] == "writer":
        sys.exit(writer.main(sys.argv[2:]))
    from service.cli import main

    sys.exit(main(sys.argv[1:] + (["--no-writer-process"] if "writer" in REMOVE else [])))
