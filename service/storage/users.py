"""The users table: reads, CreateUser, and the one read-modify-write that runs every other write.

``run(command)`` is the transaction of every write of an existing user: replay a request id, read and
lock the row, ``command.execute(current, now)`` (``service.users.update``: the rules, no I/O), write
only the columns of the fields that changed (so concurrent writers of different fields, or different
map keys, both keep their change), one audit row, remember the request id. ``validate_only`` runs the
writes (so the unique indexes decide) and rolls them back.
"""

from __future__ import annotations

import functools
import json
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from userservice.v1 import user_pb2

from service import metrics
from service.errors import NotFound, ServiceError, Unavailable
from service.storage import postgres
from service.storage.audit import Audit
from service.storage.db import Conflict, Database
from service.storage.models import USER_COLUMNS, UserRow, any_of
from service.storage.requests import Requests
from service.users import fields
from service.users.commands import Create
from service.users.fields import Filter
from service.users.update import Change, Command, new_etag

User = user_pb2.User
_INDEX = {name: i for i, name in enumerate(USER_COLUMNS)}
_SECRET = fields.SECRET.columns[0].name


def now_micros() -> int:
    return time.time_ns() // 1000


#: A row tuple (``USER_COLUMNS`` order) -> its ``User``.
_user = fields.row_reader(_INDEX)


def _digest(command: Command | Create) -> str:
    """The command's request digest; a command made without one (a test's, an older caller's) has none,
    and its request id replays by id, method and user alone."""
    return str(getattr(command, "digest", ""))


class _RolledBack(Exception):
    """Leaves a validate-only transaction with its would-be result, writing nothing."""

    def __init__(self, user: User) -> None:
        super().__init__("validate_only")
        self.user = user


@functools.lru_cache(maxsize=4096)
def _ordered(names: frozenset[str]) -> tuple[str, ...]:
    """``names`` in the model's column order, the order in which Peewee writes SET clauses."""
    return tuple(c for c in USER_COLUMNS if c in names)


class Users:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.audit = Audit(database)
        self.requests = Requests(database)

    # ---- reads ------------------------------------------------------------------------------
    def _select(self, by: str, lock: bool) -> str:
        database = self.database

        def build() -> Any:
            q = UserRow.select(*[getattr(UserRow, c) for c in USER_COLUMNS]).where(
                (UserRow.tenant_id == 0) & (getattr(UserRow, by) == ""))
            return q.for_update() if lock and not database.is_sqlite else q
        return database.sql(("select", by, lock), build)

    def _fetch(self, tenant_id: int, user_id: str, *, lock: bool = False) -> Any:
        """The user's row; ``lock``: inside a write transaction (which maps errors itself), locking it."""
        sql = self._select("id", lock)
        database = self.database
        params = (tenant_id, user_id)
        row = database.execute(sql, params).fetchone() if lock else database.one(sql, params)
        if row is None:
            raise NotFound(f"user {user_id!r} not found", metadata={"id": user_id})
        return row

    def get(self, tenant_id: int, user_id: str) -> User:
        return _user(self._fetch(tenant_id, user_id))

    def get_with_hash(self, tenant_id: int, user_id: str) -> tuple[User, str | None]:
        """The user and its stored password hash, from one read."""
        row = self._fetch(tenant_id, user_id)
        return _user(row), row[_INDEX[_SECRET]]

    def find_login(self, tenant_id: int, field: str, value: str) -> tuple[User, str | None] | None:
        """The user whose unique ``field`` (username or email) canonically equals ``value``, with its hash."""
        column = fields.field(field).columns[-1]
        key = column.derive(value) if column.derive else value
        row = self.database.one(self._select(column.name, False), (tenant_id, key))
        return None if row is None else (_user(row), row[_INDEX[_SECRET]])

    def page(self, tenant_id: int, *, page_size: int, after_seq: int, show_deleted: bool,
             where: Sequence[tuple[fields.Field, Filter, Any]] = ()) -> tuple[list[User], int | None]:
        """One keyset page ordered by creation; returns the users and the last seq if more remain."""
        q = UserRow.select(*[getattr(UserRow, c) for c in USER_COLUMNS]).where(
            (UserRow.tenant_id == tenant_id) & (UserRow.seq > after_seq))
        if not show_deleted:
            q = q.where(UserRow.state != User.DELETED)
        for field, how, value in where:
            column = getattr(UserRow, field.columns[-1 if how is Filter.CANONICAL else 0].name)
            q = q.where(column.contains(json.dumps(value)) if how is Filter.CONTAINS else column == value)
        with self.database.guard():
            rows = list(self.database.db.execute(q.order_by(UserRow.seq).limit(page_size + 1).tuples()))
        more = len(rows) > page_size
        rows = rows[:page_size]
        return [_user(r) for r in rows], (rows[-1][0] if more and rows else None)

    # ---- writes -----------------------------------------------------------------------------
    def _transaction(self, body: Callable[[], User]) -> User:
        """``body`` in a write transaction, run again after a serialization failure; a validate-only one's user."""
        try:
            return self.database.retry(body)  # type: ignore[no-any-return]
        except _RolledBack as done:
            return done.user

    def create(self, command: Create) -> User:
        return self._transaction(lambda: self._create(command))

    def _create(self, command: Create) -> User:
        now = now_micros()
        with self.database.write(unique=True):
            replay = self.requests.replay(command.tenant_id, command.request_id, command.method, "", now,
                                          _digest(command))
            if replay is not None:
                return replay
            created = User()
            created.CopyFrom(command.user)
            created.ClearField(fields.SECRET.name)
            created.id = "usr_" + secrets.token_urlsafe(16)
            created.create_time.FromMicroseconds(now)
            created.update_time.FromMicroseconds(now)
            created.etag = new_etag()
            values: dict[str, Any] = {"tenant_id": command.tenant_id, _SECRET: command.password_hash}
            for field in fields.STORED:
                values.update(field.to_columns(created))
            UserRow.insert(**values).execute(self.database.db)
            paths = sorted(f.name for f in fields.WRITABLE if values[f.columns[0].name] is not None)
            if command.password_hash is not None:
                paths = sorted([*paths, fields.SECRET.name])
            self.audit.record(command.tenant_id, created.id, command.key_id, command.method, paths, User(), created,
                              now)
            if command.validate_only:
                self.database.flush()
                raise _RolledBack(created)
            self.requests.remember(command.tenant_id, command.request_id, command.method, created, now,
                                   _digest(command))
        return created

    def run(self, command: Command) -> User:
        """Run a write command on its user's locked row (retried on a serialization failure)."""
        return self._transaction(lambda: self._run(command))

    def _run(self, command: Command) -> User:
        now = now_micros()
        with self.database.write(unique=True):
            replay = self._replay(command, now)
            if replay is not None:
                return replay
            return self._apply(command, self._fetch(command.tenant_id, command.user_id, lock=True), now)

    def _replay(self, command: Command, now: int, found: dict[tuple[int, str], Any] | None = None) -> User | None:
        return self.requests.replay(command.tenant_id, command.request_id, command.method, command.user_id, now,
                                    _digest(command), found)

    def _apply(self, command: Command, row: Any, now: int) -> User:
        """The command on its locked ``row``: the rules, the changed columns, the request id, the audit row."""
        tenant_id, user_id = command.tenant_id, command.user_id
        current = _user(row)
        change = command.execute(current, now)
        new, changed = self._write(row, current, change, now)
        if command.validate_only:  # nothing is written: the user keeps its etag and update time
            self.database.flush()  # the unique indexes judge the write before it rolls back
            new.etag = current.etag
            new.update_time.CopyFrom(current.update_time)
            raise _RolledBack(new)
        self.requests.remember(tenant_id, command.request_id, command.method, new, now, _digest(command))
        if change.audit:
            self.audit.record(tenant_id, user_id, command.key_id, command.method,
                              self._written(change, changed), current, new, now)
        return new

    def run_many(self, commands: Sequence[Command]) -> list[User | Exception | None]:
        """Write commands of different users in one transaction: PostgreSQL's group commit
        (``service.dbthreads``). Each command's answer is what ``run`` would answer, or None: run it
        alone, with ``run``.

        One locked read of all their rows, then every write and one ``COMMIT``: two round trips for
        the lot (docs/benchmarks.md, "PostgreSQL: group commit"). A command is left to run alone when
        it is validate-only, when its row is missing or locked by another transaction (``SKIP LOCKED``:
        the group never waits on a lock), when PostgreSQL refused a statement of the shared transaction
        (a unique index: whose write it was is not known, and nothing of it was written), or when the
        group hit a serialization failure or deadlock (``run`` retries, with its backoff; the group itself
        never sleeps). A database that is down or busy, or a failure whose outcome is not known (a
        connection lost during ``COMMIT``), answers every command of the group as it would have answered
        each alone: never run again, so never written twice. On SQLite, whose writer runs one transaction
        at a time, every command is left to run alone.
        """
        if self.database.is_sqlite:
            return [None] * len(commands)
        together = [i for i, command in enumerate(commands) if not command.validate_only]
        answers: dict[int, User | Exception] = {}
        if together:
            try:
                answers = metrics.transaction(lambda: self._run_together(commands, together))
                metrics.group_committed(len(answers))
            except Conflict:  # each alone, where ``run`` retries it after a backoff: a group never sleeps
                answers = {}
            except Unavailable as exc:
                answers = dict.fromkeys(together, exc)
            except Exception as exc:
                # Refused by the server (a SQLSTATE: a unique index, say), the group was rolled back and each
                # may run alone; without one, whether it committed is not known, and the error is every answer.
                refused = len(together) > 1 and postgres.sqlstate(exc) is not None
                answers = {} if refused else dict.fromkeys(together, exc)
        return [answers.get(i) for i in range(len(commands))]

    def _run_together(self, commands: Sequence[Command], indexes: Sequence[int]) -> dict[int, User | Exception]:
        """``commands[i]`` for each of ``indexes`` in one transaction; those left without an answer run alone."""
        now = now_micros()
        answers: dict[int, User | Exception] = {}
        waiting: dict[tuple[int, str], int] = {}
        with self.database.write(unique=True):
            ids = [(commands[i].tenant_id, commands[i].request_id) for i in indexes if commands[i].request_id]
            found = self.requests.stored(ids) if ids else {}  # every request id of the group, one statement
            for i in indexes:
                command = commands[i]
                try:
                    replay = self._replay(command, now, found)
                except ServiceError as exc:
                    answers[i] = exc
                    continue
                if replay is not None:
                    answers[i] = replay
                else:
                    waiting.setdefault((command.tenant_id, command.user_id), i)
            for row in self._lock_many(list(waiting)):
                i = waiting[(row[_INDEX["tenant_id"]], row[_INDEX["id"]])]
                try:
                    answers[i] = self._apply(commands[i], row, now)
                except ServiceError as exc:
                    answers[i] = exc
        return answers

    def _lock_many(self, keys: Sequence[tuple[int, str]]) -> Any:
        """The rows of ``keys`` (tenant, user id) not locked by another transaction, locked (PostgreSQL)."""
        if not keys:
            return []
        sql = self.database.sql(("lock many", len(keys)), lambda: UserRow.select(
            *[getattr(UserRow, c) for c in USER_COLUMNS]).where(
            any_of(UserRow.tenant_id, UserRow.id, len(keys))).for_update(skip_locked=True))
        return self.database.execute(sql, [value for key in keys for value in key]).fetchall()

    def _write(self, row: Any, current: User, change: Change, now: int) -> tuple[User, list[str]]:
        """Write the columns of the fields that differ from ``current`` (and a new hash); returns the
        user and the names of the fields that changed."""
        new = fields.as_stored(change.user)
        new.ClearField(fields.SECRET.name)
        values: dict[str, Any] = {}
        changed: list[str] = []
        for field in fields.STORED:
            if field.name in change.fields and not field.same(current, new):
                changed.append(field.name)
                values.update(field.to_columns(new))
        if change.password_hash is not None:
            values[_SECRET] = change.password_hash
        if values:
            new.etag = new_etag()
            values["etag"] = new.etag
            if change.touch:
                new.update_time.FromMicroseconds(now)
                values["update_time"] = now
            columns = _ordered(frozenset(values))
            sql = self.database.sql(("update", columns), lambda: UserRow.update(
                {getattr(UserRow, c): None for c in columns}).where(UserRow.seq == 0))
            self.database.defer(sql, (*(values[c] for c in columns), row[0]))
        return new, changed

    @staticmethod
    def _written(change: Change, changed: list[str]) -> list[str]:
        """The audit record's paths: the requested paths whose field changed, then the fields a coupling changed."""
        tops = {p.split(".", 1)[0] for p in change.paths}
        secret = fields.SECRET.name
        return [p for p in change.paths if p.split(".", 1)[0] in changed
                or (p == secret and change.password_hash is not None)] + [n for n in changed if n not in tops]
