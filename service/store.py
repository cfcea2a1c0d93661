"""Storage: Peewee models, versioned migrations, and the transactions of every write.

Peewee owns the schema and builds each statement once; the hot path re-executes the cached SQL
(``Store._sql``). Every read-modify-write runs in one transaction that takes the write lock first
(``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on PostgreSQL); unique indexes on the
canonical username, e-mail and external id decide every race.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import random
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, NoReturn

import peewee as pw
from google.protobuf import json_format
from playhouse import db_url
from userservice.v1 import user_pb2

from service import metrics, postgres
from service.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
    Violation,
)
from service.validation import canonical

User = user_pb2.User
log = logging.getLogger("userservice")
#: Models are bound to this proxy for schema work; every query runs on its Store's own database
#: (``execute(self.db)``), so several Stores can live in one process (tests do).
proxy = pw.DatabaseProxy()


class BaseModel(pw.Model):
    class Meta:
        database = proxy
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = pw.IntegerField()
    applied_time = pw.BigIntegerField()


class Tenant(BaseModel):
    id = pw.AutoField()
    name = pw.CharField(max_length=128, unique=True)
    create_time = pw.BigIntegerField()


class ApiKey(BaseModel):
    id = pw.CharField(primary_key=True, max_length=32)
    tenant_id = pw.IntegerField(index=True)
    role = pw.CharField(max_length=16)
    user_id = pw.CharField(max_length=64, null=True)
    secret_hash = pw.CharField(max_length=64)
    create_time = pw.BigIntegerField()
    revoke_time = pw.BigIntegerField(null=True)


class UserRow(BaseModel):
    seq = pw.AutoField()
    id = pw.CharField(max_length=64, unique=True)
    tenant_id = pw.IntegerField()
    username = pw.CharField(max_length=64)
    username_canon = pw.CharField(max_length=256)
    email = pw.CharField(max_length=254, null=True)
    email_canon = pw.CharField(max_length=1024, null=True)
    email_verified = pw.BooleanField(default=False)
    phone_number = pw.CharField(max_length=16, null=True)
    phone_verified = pw.BooleanField(default=False)
    display_name = pw.TextField(null=True)
    given_name = pw.TextField(null=True)
    family_name = pw.TextField(null=True)
    middle_name = pw.TextField(null=True)
    nickname = pw.TextField(null=True)
    profile = pw.TextField(null=True)
    picture = pw.TextField(null=True)
    website = pw.TextField(null=True)
    gender = pw.TextField(null=True)
    birthdate = pw.TextField(null=True)
    zoneinfo = pw.TextField(null=True)
    locale = pw.TextField(null=True)
    address = pw.TextField(null=True)
    attributes = pw.TextField(null=True)
    roles = pw.TextField(null=True)
    state = pw.IntegerField()
    auth_type = pw.IntegerField()
    require_password_change = pw.BooleanField(default=False)
    external_id = pw.CharField(max_length=256, null=True)
    password_hash = pw.TextField(null=True)
    create_time = pw.BigIntegerField()
    update_time = pw.BigIntegerField()
    last_login_time = pw.BigIntegerField(null=True)
    last_failed_login_time = pw.BigIntegerField(null=True)
    etag = pw.CharField(max_length=64)

    class Meta:
        table_name = "users"
        indexes = (
            (("tenant_id", "username_canon"), True),
            (("tenant_id", "email_canon"), True),
            (("tenant_id", "external_id"), True),
            (("tenant_id", "seq"), False),
        )


class UserChangeRow(BaseModel):
    seq = pw.AutoField()
    tenant_id = pw.IntegerField()
    user_id = pw.CharField(max_length=64)
    key_id = pw.CharField(max_length=32)
    method = pw.CharField(max_length=64)
    paths = pw.TextField()
    old_values = pw.TextField()
    new_values = pw.TextField()
    change_time = pw.BigIntegerField()

    class Meta:
        table_name = "user_changes"
        indexes = ((("tenant_id", "user_id", "seq"), False),)


class RequestRow(BaseModel):
    tenant_id = pw.IntegerField()
    request_id = pw.CharField(max_length=64)
    method = pw.CharField(max_length=64)
    user_id = pw.CharField(max_length=64)
    response = pw.BlobField()
    create_time = pw.BigIntegerField()

    class Meta:
        table_name = "requests"
        indexes = ((("tenant_id", "request_id"), True), (("create_time",), False))


def _migration_1(db: pw.Database) -> None:
    db.create_tables([Tenant, ApiKey, UserRow, UserChangeRow, RequestRow])


def _migration_2(db: Any) -> None:
    """Request ids expire (``REQUEST_ID_TTL_MICROS``): index their age, so expired ones are found fast.

    ``IF NOT EXISTS``: a database created after this migration was written already has the index
    (migration 1 creates the tables from today's models).
    """
    db.execute_sql('CREATE INDEX IF NOT EXISTS "requests_create_time" ON "requests" ("create_time")')


MODELS = [SchemaVersion, Tenant, ApiKey, UserRow, UserChangeRow, RequestRow]

#: Write transactions rolled back by a serialization failure or deadlock run again, at most this often.
WRITE_ATTEMPTS = 8
#: Versioned migrations, applied in order at start, each in its own transaction. Append only.
MIGRATIONS: list[Callable[[pw.Database], None]] = [_migration_1, _migration_2]
#: How long a request id is remembered (AIP-155 asks for "a reasonable time"): a day.
REQUEST_ID_TTL_MICROS = 24 * 3600 * 1_000_000
#: Expired request ids are deleted once every this many remembered ones.
REQUEST_ID_SWEEP_EVERY = 1000

# The public columns of ``users``, in the order every SELECT returns them.
STRING_FIELDS = ("email", "phone_number", "display_name", "given_name", "family_name", "middle_name",
                 "nickname", "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale",
                 "external_id")
BOOL_FIELDS = ("email_verified", "phone_verified", "require_password_change")
TIME_FIELDS = ("create_time", "update_time", "last_login_time", "last_failed_login_time")
COLUMNS = ("seq", "id", "username", *STRING_FIELDS, *BOOL_FIELDS, "address", "attributes", "roles",
           "state", "auth_type", *TIME_FIELDS, "etag", "password_hash")
_INDEX = {name: i for i, name in enumerate(COLUMNS)}
#: The fields of ``User`` an update can write, each stored in the columns ``field_columns`` names.
STORED_FIELDS = ("username", *STRING_FIELDS, *BOOL_FIELDS, "address", "attributes", "roles", "state", "auth_type")
#: Reset when the e-mail or phone number changes, masked or not (see field_masks.apply).
CONTACT_FLAGS = frozenset({"email_verified", "phone_verified"})
#: Which unique index an IntegrityError names -> (field, ErrorInfo reason).
UNIQUE_FIELDS = (("username_canon", "username", "USERNAME_TAKEN"), ("email_canon", "email", "EMAIL_TAKEN"),
                 ("external_id", "external_id", "EXTERNAL_ID_TAKEN"))


def now_micros() -> int:
    return time.time_ns() // 1000


def new_etag() -> str:
    """A strong etag, quoted as RFC 9110 wants it, so the same string serves JSON and HTTP."""
    return '"' + secrets.token_urlsafe(12) + '"'


def same_etag(given: str, current: str) -> bool:
    """Whether an etag or ``If-Match`` value matches (RFC 9110): ``*``, or a comma-separated list of
    tags, each quoted, unquoted or weak (``W/``)."""
    def bare(tag: str) -> bytes:
        return tag.strip().removeprefix("W/").strip('"').encode()
    if given.strip() == "*":
        return True
    want = bare(current)
    return any(secrets.compare_digest(bare(tag), want) for tag in given.split(","))


def row_to_user(row: Sequence[Any]) -> User:
    """A ``User`` from a row in ``COLUMNS`` order (no password hash, no tenant)."""
    user = User(id=row[1], username=row[2], state=row[_INDEX["state"]], auth_type=row[_INDEX["auth_type"]],
                etag=row[_INDEX["etag"]])
    for name in STRING_FIELDS:
        value = row[_INDEX[name]]
        if value is not None:
            setattr(user, name, value)
    for name in BOOL_FIELDS:
        setattr(user, name, bool(row[_INDEX[name]]))
    address, attributes, roles = row[_INDEX["address"]], row[_INDEX["attributes"]], row[_INDEX["roles"]]
    if address:
        user.address.CopyFrom(user_pb2.Address(**json.loads(address)))
    if attributes:
        user.attributes.update(json.loads(attributes))
    if roles:
        user.roles.extend(json.loads(roles))
    for name in TIME_FIELDS:
        value = row[_INDEX[name]]
        if value is not None:
            getattr(user, name).FromMicroseconds(value)
    return user


def field_columns(user: User, name: str) -> dict[str, Any]:
    """The column values that store field ``name`` of ``user`` (derived columns included)."""
    if name == "username":
        return {"username": user.username, "username_canon": canonical(user.username)}
    if name == "email":
        email = user.email or None
        return {"email": email, "email_canon": canonical(email) if email else None}
    if name in STRING_FIELDS:
        return {name: getattr(user, name) or None}
    if name in BOOL_FIELDS or name in ("state", "auth_type"):
        return {name: getattr(user, name)}
    if name == "address":
        parts = {f.name: v for f, v in user.address.ListFields()}
        return {"address": _SORTED_JSON(parts) if parts else None}
    if name == "attributes":
        return {"attributes": _SORTED_JSON(dict(user.attributes)) if user.attributes else None}
    if name == "roles":
        return {"roles": json.dumps(list(user.roles)) if user.roles else None}
    raise KeyError(name)


#: Plain string fields: MessageToDict writes them as themselves, when present (or non-empty without presence).
_PLAIN_STRINGS = {f.name: f.has_presence for f in User.DESCRIPTOR.fields
                  if f.type == f.TYPE_STRING and not f.is_repeated and f.name != "password"}


#: ``json.dumps(x, sort_keys=True)`` builds an encoder per call; this one is built once.
_SORTED_JSON = json.JSONEncoder(sort_keys=True).encode


def field_json(user: User, names: Sequence[str]) -> str:
    """JSON of the named non-secret fields of ``user``, for audit records (``password`` never)."""
    if all(n in _PLAIN_STRINGS or n == "password" for n in names):
        # The common case without protobuf's JSON machinery; same output as the general path below.
        plain: dict[str, str] = {}
        for name in names:
            if name == "password":
                continue
            value = getattr(user, name)
            if user.HasField(name) if _PLAIN_STRINGS[name] else value:
                plain[name] = value
        return _SORTED_JSON(plain)
    partial = User()
    for name in names:
        if name == "password":
            continue
        field = User.DESCRIPTOR.fields_by_name[name]
        if field.has_presence:
            if user.HasField(name):
                _copy(user, partial, name)
        else:
            _copy(user, partial, name)
    return _SORTED_JSON(json_format.MessageToDict(partial, preserving_proto_field_name=True))


def as_stored(user: User) -> User:
    """``user`` as it reads back: an empty optional string or an empty address is stored as absent."""
    for name in STRING_FIELDS:
        if user.HasField(name) and not getattr(user, name):
            user.ClearField(name)
    if user.HasField("address") and not user.address.ListFields():
        user.ClearField("address")
    return user


def _copy(source: User, target: User, name: str) -> None:
    value = getattr(source, name)
    if isinstance(value, (str, bool, int)):
        setattr(target, name, value)
    elif hasattr(value, "CopyFrom"):
        getattr(target, name).CopyFrom(value)
    else:
        getattr(target, name).MergeFrom(value)


class _Conflict(Exception):
    """A transaction the database rolled back for a serialization failure or deadlock; ``_retry`` reruns it."""


class _RolledBack(Exception):
    """Leaves a validate-only transaction with its would-be result, writing nothing."""

    def __init__(self, user: User) -> None:
        super().__init__("validate_only")
        self.user = user


class _Transaction:
    """A write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT`` straight on the sqlite3 connection
    (Peewee's ``atomic()`` bookkeeping cost 26-37 us against 14 us for an empty transaction, measured),
    or Peewee's ``atomic()`` on PostgreSQL. Any error rolls back, then becomes the caller's error
    (``Store._translate``). A class, not a generator: it runs on every write.
    """

    __slots__ = ("atomic", "conn", "store", "unique")

    def __init__(self, store: Store, unique: bool) -> None:
        self.store, self.unique = store, unique
        self.conn: sqlite3.Connection | None = None
        self.atomic: Any = None

    def __enter__(self) -> None:
        store = self.store
        try:
            if store.is_sqlite:
                self.conn = store.db.connection()
                self.conn.execute("BEGIN IMMEDIATE")
            else:
                self.atomic = store.db.atomic()
                self.atomic.__enter__()
        except DATABASE_ERRORS as exc:
            store._raise(exc)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            if self.conn is not None:
                if kind is None:
                    try:
                        self.conn.commit()
                    except BaseException:
                        self.conn.rollback()  # a failed COMMIT (busy, full) may leave the transaction open
                        raise
                else:
                    self.conn.rollback()  # a no-op when SQLite already rolled back (SQLITE_FULL)
            elif self.atomic is not None:
                self.atomic.__exit__(kind, exc, tb)
        except DATABASE_ERRORS as failure:  # the commit or rollback failed: map what it says
            self.store._raise(failure, self.unique)
        if isinstance(exc, DATABASE_ERRORS):
            self.store._raise(exc, self.unique)


def _already_exists(exc: BaseException) -> BaseException | None:
    """ALREADY_EXISTS naming the field of the unique index ``exc`` names (None: not one of ours)."""
    # PostgreSQL names the index (users_tenant_id_<column>); SQLite names the columns.
    text = postgres.constraint_name(exc) or str(exc).split("\n", 1)[0]
    for column, field, reason in UNIQUE_FIELDS:
        if column in text:
            return AlreadyExists(f"{field} is already taken in this tenant", reason=reason,
                                 violations=[Violation(field, "already taken")], metadata={"field": field})
    return None


#: What a failed statement can raise: Peewee's wrapped errors, sqlite3's own (``Store._exec`` on
#: SQLite), and the pool's.
DATABASE_ERRORS = (pw.PeeweeException, sqlite3.Error, postgres.MaxConnectionsExceeded)


class Checkpointer:
    """Copies the WAL back into the database file from a thread of its own.

    By default the connection whose commit crosses 1,000 WAL pages runs the checkpoint itself,
    inside a request (copying pages, then an fsync): with every write on the event loop, that is
    a pause for every call in flight. Here a separate connection runs ``wal_checkpoint(PASSIVE)``
    (it never blocks writers, and sqlite3 releases the GIL while it works) every ``interval``
    seconds, and once more when stopped. Durability is unchanged: a commit is in the WAL either way.
    """

    def __init__(self, path: str, interval: float) -> None:
        self._path, self._interval = path, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, timeout=5, check_same_thread=False)
        try:
            while not self._stop.wait(self._interval):
                with suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            with suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    tenant_id: int
    tenant_name: str
    role: str
    user_id: str | None
    secret_hash: str
    revoked: bool


@dataclass(frozen=True, slots=True)
class Change:
    """What a write did: the paths written, for the audit record."""

    user: User
    paths: list[str]
    password_hash: str | None = None


Mutation = Callable[[User], Change]


class Store:
    """One database (SQLite file or PostgreSQL), migrated at construction."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000, max_page_count: int | None = None) -> None:
        self.url = url
        self.db: Any = connect(url, busy_timeout_ms, max_page_count)
        self.is_sqlite = isinstance(self.db, pw.SqliteDatabase)
        proxy.initialize(self.db)
        self._cache: dict[Any, str] = {}
        self._checkpointer: Checkpointer | None = None
        self._remembered = 0
        with self._guard():  # a database that is down: UNAVAILABLE, not a driver traceback
            self.db.connect(reuse_if_open=True)
        self.migrate()

    # ---- plumbing ---------------------------------------------------------------------------
    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if not self.db.is_closed():
            self.db.close()

    def checkpoint_in_background(self, interval: float = 0.5) -> None:
        """SQLite: move WAL checkpoints off the serving thread (see ``Checkpointer``)."""
        if self.is_sqlite and self._checkpointer is None:
            self.db.execute_sql("PRAGMA wal_autocheckpoint = 0")
            self._checkpointer = Checkpointer(self.db.database, interval)

    def migrate(self) -> int:
        """Apply every migration newer than the database; returns the schema version."""
        atomic = self.db.atomic("IMMEDIATE") if self.is_sqlite else self.db.atomic()
        with self._guard(), atomic, self.db.bind_ctx(MODELS):
            if not self.is_sqlite:  # replicas starting together: one migrates, the others then see it done
                self.db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (postgres.MIGRATION_LOCK_ID,))
            self.db.create_tables([SchemaVersion])
            current = SchemaVersion.select(pw.fn.MAX(SchemaVersion.version)).scalar(self.db) or 0
            for version, step in enumerate(MIGRATIONS[current:], start=current + 1):
                step(self.db)
                SchemaVersion.insert(version=version, applied_time=now_micros()).execute(self.db)
        return len(MIGRATIONS)

    def _write(self, *, unique: bool = False) -> _Transaction:
        """One write transaction that holds the write lock from its first statement.

        ``unique``: a unique-index violation becomes ALREADY_EXISTS naming the field.
        """
        return _Transaction(self, unique)

    def _exec(self, sql: str, params: Sequence[Any]) -> Any:
        """Run cached SQL: on SQLite straight on the sqlite3 connection (errors are mapped by the
        ``_guard`` or ``_write`` around the call), on PostgreSQL through Peewee's pooled connection."""
        if self.is_sqlite:
            return self.db.connection().execute(sql, params)
        return self.db.execute_sql(sql, params)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Map what the database says about a failed statement or transaction to the caller's error."""
        try:
            yield
        except DATABASE_ERRORS as exc:
            self._raise(exc)

    def _raise(self, exc: BaseException, unique: bool = False) -> NoReturn:
        """Raise the caller's error for a database exception (``_translate``), or ``exc`` itself."""
        mapped = self._translate(exc, unique)
        if mapped is None:
            raise exc
        raise mapped from exc

    def _translate(self, exc: BaseException, unique: bool = False) -> BaseException | None:
        """The caller's error for a database exception, or None to let it through as it is.

        SQLite: a lock held past the busy timeout is UNAVAILABLE, a full disk RESOURCE_EXHAUSTED.
        PostgreSQL: a serialization failure or deadlock becomes ``_Conflict`` (``_retry`` runs the
        transaction again); a timeout, a lost connection or a server that is down becomes UNAVAILABLE,
        and a broken connection is discarded so the next call opens a new one. With ``unique``, a
        unique-index violation is ALREADY_EXISTS naming the field.
        """
        if unique and isinstance(exc, (pw.IntegrityError, sqlite3.IntegrityError)):
            return _already_exists(exc)
        if self.is_sqlite:
            # SQLite rolls a transaction back by itself on SQLITE_FULL; a ROLLBACK after it may fail,
            # and the real cause is then the exception it replaced.
            text = " ".join(str(e).lower() for e in _chain(exc))
            if "locked" in text or "busy" in text:
                return Unavailable("the database is busy; retry", reason="DATABASE_BUSY")
            if "disk" in text and ("full" in text or "i/o" in text):
                return ResourceExhausted("the database disk is full", reason="DISK_FULL")
            return None
        failure = postgres.classify(exc)
        if failure is postgres.Failure.RETRY:
            return _Conflict()
        if failure is postgres.Failure.BUSY:
            return Unavailable("the database is busy; retry", reason="DATABASE_BUSY")
        if failure is postgres.Failure.LOST:
            if self.db.in_transaction():
                return None  # the _write() around this transaction rolls back, then discards the connection
            self._discard()
            return Unavailable("the database is unavailable; retry", reason="DATABASE_UNAVAILABLE")
        return None

    def _discard(self) -> None:
        """Drop this thread's connection (broken, or in an unknown state); the next statement reconnects."""
        try:
            self.db.manual_close()
        except Exception:  # the connection is gone either way
            self.db.dispose()

    def _retry(self, run: Callable[[], Any]) -> Any:
        """Run a write transaction, again after a serialization failure or deadlock (bounded, with jitter).

        Between attempts the loop thread sleeps a random 0-2^n ms (at most 32): every transaction of this
        process waits anyway, and the jitter lets the other process's queue of writers drain. Measured with
        2 replicas, 8 clients hammering one row of a SERIALIZABLE database: about one retry per two writes,
        and about 1 write in 400 still ABORTED (TRANSACTION_CONFLICT) after the last attempt. At READ
        COMMITTED (PostgreSQL's default, which the service uses) ``FOR UPDATE`` waits instead.
        """
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return metrics.transaction(run)
            except _Conflict as exc:
                log.info("transaction conflict", extra={"event": "retry" if attempt < WRITE_ATTEMPTS else "conflict",
                                                        "error": postgres.sqlstate(exc)})
                if attempt == WRITE_ATTEMPTS:
                    raise Aborted("the write conflicted with concurrent writes; retry",
                                  reason="TRANSACTION_CONFLICT") from exc.__cause__
                metrics.transaction_retried()
                time.sleep(random.uniform(0, min(0.032, 0.001 * 2**attempt)))  # full jitter, capped
        raise AssertionError("unreachable")

    def _sql(self, key: Any, build: Callable[[], pw.Query]) -> str:
        sql = self._cache.get(key)
        if sql is None:
            sql = self.db.get_sql_context().sql(build()).query()[0]  # in this database's dialect
            if len(self._cache) >= 4096:  # one UPDATE per set of changed columns: keep it bounded
                self._cache.clear()
            self._cache[key] = sql
        return sql

    def _one(self, sql: str, params: Sequence[Any]) -> Any:
        with self._guard():
            return self._exec(sql, params).fetchone()

    def _select_user_sql(self, by: str, lock: bool) -> str:
        def build() -> pw.Query:
            q = UserRow.select(*[getattr(UserRow, c) for c in COLUMNS]).where(
                (UserRow.tenant_id == 0) & (getattr(UserRow, by) == "")
            )
            return q.for_update() if lock and not self.is_sqlite else q
        return self._sql(("select", by, lock), build)

    def _fetch(self, tenant_id: int, user_id: str, *, lock: bool = False) -> Any:
        """The user's row; ``lock``: inside a write transaction (which maps errors itself), locking it."""
        sql = self._select_user_sql("id", lock)
        row = self._exec(sql, (tenant_id, user_id)).fetchone() if lock else self._one(sql, (tenant_id, user_id))
        if row is None:
            raise NotFound(f"user {user_id!r} not found", metadata={"id": user_id})
        return row

    # ---- tenants and keys -------------------------------------------------------------------
    def tenant_id(self, name: str, *, create: bool = False) -> int | None:
        with self._write():
            found = Tenant.select(Tenant.id).where(Tenant.name == name).scalar(self.db)
            if found is None and create:
                found = Tenant.insert(name=name, create_time=now_micros()).execute(self.db)
        return int(found) if found is not None else None

    def create_key(self, tenant: str, role: str, user_id: str | None, secret_hash: str, key_id: str) -> None:
        tid = self.tenant_id(tenant, create=True)
        assert tid is not None
        if user_id is not None:
            self._fetch(tid, user_id)
        with self._write():
            ApiKey.insert(id=key_id, tenant_id=tid, role=role, user_id=user_id, secret_hash=secret_hash,
                          create_time=now_micros()).execute(self.db)

    def key(self, key_id: str) -> KeyRecord | None:
        sql = self._sql("key", lambda: ApiKey.select(
            ApiKey.id, ApiKey.tenant_id, Tenant.name, ApiKey.role, ApiKey.user_id, ApiKey.secret_hash,
            ApiKey.revoke_time).join(Tenant, on=(ApiKey.tenant_id == Tenant.id)).where(ApiKey.id == ""))
        row = self._one(sql, (key_id,))
        if row is None:
            return None
        return KeyRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6] is not None)

    def keys(self) -> list[KeyRecord]:
        query = (ApiKey.select(ApiKey.id, ApiKey.tenant_id, Tenant.name, ApiKey.role, ApiKey.user_id,
                               ApiKey.secret_hash, ApiKey.revoke_time)
                 .join(Tenant, on=(ApiKey.tenant_id == Tenant.id)).order_by(ApiKey.create_time).tuples())
        rows: list[Any] = list(query.execute(self.db))
        return [KeyRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6] is not None) for r in rows]

    def revoke_key(self, key_id: str) -> bool:
        with self._write():
            return bool(ApiKey.update(revoke_time=now_micros())
                        .where((ApiKey.id == key_id) & ApiKey.revoke_time.is_null()).execute(self.db))

    # ---- users: reads -----------------------------------------------------------------------
    def get_user(self, tenant_id: int, user_id: str) -> User:
        return row_to_user(self._fetch(tenant_id, user_id))

    def get_user_and_hash(self, tenant_id: int, user_id: str) -> tuple[User, str | None]:
        """The user and its stored password hash, from one read."""
        row = self._fetch(tenant_id, user_id)
        return row_to_user(row), row[_INDEX["password_hash"]]

    def find_login(self, tenant_id: int, *, username: str = "", email: str = "") -> tuple[User, str | None] | None:
        by, value = ("username_canon", canonical(username)) if username else ("email_canon", canonical(email))
        row = self._one(self._select_user_sql(by, False), (tenant_id, value))
        if row is None:
            return None
        return row_to_user(row), row[_INDEX["password_hash"]]

    def list_users(self, tenant_id: int, *, page_size: int, after_seq: int, show_deleted: bool,
                   where: Sequence[tuple[str, Any]] = ()) -> tuple[list[User], int | None]:
        """One keyset page ordered by creation; returns the users and the last seq if more remain."""
        q = UserRow.select(*[getattr(UserRow, c) for c in COLUMNS]).where(
            (UserRow.tenant_id == tenant_id) & (UserRow.seq > after_seq))
        if not show_deleted:
            q = q.where(UserRow.state != User.DELETED)
        for column, value in where:
            if column == "role":
                q = q.where(UserRow.roles.contains(json.dumps(value)))
            else:
                q = q.where(getattr(UserRow, column) == value)
        with self._guard():
            rows = list(self.db.execute(q.order_by(UserRow.seq).limit(page_size + 1).tuples()))
        more = len(rows) > page_size
        rows = rows[:page_size]
        return [row_to_user(r) for r in rows], (rows[-1][0] if more and rows else None)

    def list_changes(self, tenant_id: int, user_id: str, *, page_size: int, after_seq: int
                     ) -> tuple[list[UserChangeRow], int | None]:
        """One keyset page of the user's audit records (the caller has already found the user)."""
        with self._guard():
            rows = list(UserChangeRow.select().where(
                (UserChangeRow.tenant_id == tenant_id) & (UserChangeRow.user_id == user_id)
                & (UserChangeRow.seq > after_seq)).order_by(UserChangeRow.seq).limit(page_size + 1).execute(self.db))
        more = len(rows) > page_size
        rows = rows[:page_size]
        return rows, (rows[-1].seq if more and rows else None)

    # ---- users: writes ----------------------------------------------------------------------
    def _replay(self, tenant_id: int, request_id: str, method: str, user_id: str = "") -> User | None:
        """The stored reply of an earlier call with this request id; ``user_id`` must be that call's user."""
        if not request_id:
            return None
        sql = self._sql("replay", lambda: RequestRow.select(
            RequestRow.method, RequestRow.response, RequestRow.user_id, RequestRow.create_time).where(
            (RequestRow.tenant_id == 0) & (RequestRow.request_id == "")))
        row = self._one(sql, (tenant_id, request_id))
        if row is None:
            return None
        if row[3] < now_micros() - REQUEST_ID_TTL_MICROS:  # expired: this id starts afresh
            RequestRow.delete().where((RequestRow.tenant_id == tenant_id)
                                      & (RequestRow.request_id == request_id)).execute(self.db)
            return None
        if row[0] != method:
            raise InvalidArgument([Violation("request_id", f"already used by {row[0]}")])
        if user_id and row[2] != user_id:  # never another user's stored reply
            raise InvalidArgument([Violation("request_id", "already used for another user")])
        return User.FromString(bytes(row[1]))

    def _remember(self, tenant_id: int, request_id: str, method: str, user: User, now: int) -> None:
        if request_id:
            sql = self._sql("remember", lambda: RequestRow.insert(
                tenant_id=0, request_id="", method="", user_id="", response=b"", create_time=0))
            self._exec(sql, (tenant_id, request_id, method, user.id, user.SerializeToString(), now))
            self._remembered += 1
            if self._remembered % REQUEST_ID_SWEEP_EVERY == 0:
                RequestRow.delete().where(RequestRow.create_time < now - REQUEST_ID_TTL_MICROS).execute(self.db)

    def _audit(self, tenant_id: int, user_id: str, key_id: str, method: str, paths: Sequence[str],
               old: User, new: User, now: int) -> None:
        fields = sorted({p.split(".", 1)[0] for p in paths})
        sql = self._sql("audit", lambda: UserChangeRow.insert(
            tenant_id=0, user_id="", key_id="", method="", paths="", old_values="", new_values="", change_time=0))
        self._exec(sql, (tenant_id, user_id, key_id, method, json.dumps(list(paths)),
                         field_json(old, fields), field_json(new, fields), now))

    def create_user(self, tenant_id: int, user: User, *, password_hash: str | None, key_id: str,
                    request_id: str = "", validate_only: bool = False) -> User:
        try:
            return self._retry(  # type: ignore[no-any-return]
                lambda: self._create(tenant_id, user, password_hash, key_id, request_id, validate_only))
        except _RolledBack as done:
            return done.user

    def _create(self, tenant_id: int, user: User, password_hash: str | None, key_id: str, request_id: str,
                validate_only: bool) -> User:
        now = now_micros()
        with self._write(unique=True):
            replay = self._replay(tenant_id, request_id, "CreateUser")
            if replay is not None:
                return replay
            created = User()
            created.CopyFrom(user)
            created.ClearField("password")
            as_stored(created)
            for name in BOOL_FIELDS:  # always present in replies, like a re-read row
                setattr(created, name, getattr(created, name))
            created.id = "usr_" + secrets.token_urlsafe(16)
            created.create_time.FromMicroseconds(now)
            created.update_time.FromMicroseconds(now)
            created.etag = new_etag()
            values: dict[str, Any] = {"id": created.id, "tenant_id": tenant_id, "password_hash": password_hash,
                                      "create_time": now, "update_time": now, "etag": created.etag}
            for name in STORED_FIELDS:
                values.update(field_columns(created, name))
            UserRow.insert(**values).execute(self.db)
            self._audit(tenant_id, created.id, key_id, "CreateUser", sorted(n for n in values if n in
                        User.DESCRIPTOR.fields_by_name and values[n] is not None and n not in
                        ("id", "create_time", "update_time", "etag")), User(), created, now)
            if validate_only:
                raise _RolledBack(created)
            self._remember(tenant_id, request_id, "CreateUser", created, now)
        return created

    def update_user(self, tenant_id: int, user_id: str, mutate: Mutation, *, key_id: str, method: str,
                    etag: str = "", request_id: str = "", validate_only: bool = False,
                    check: Callable[[User], None] | None = None) -> User:
        """Read the row under the write lock, run ``check``, check the etag, apply ``mutate``, write what changed.

        Only the columns of the changed fields are written, so concurrent writers of different
        fields (or different map keys) both keep their change. ``validate_only`` runs the writes
        (so the unique indexes decide) and rolls them back.
        """
        try:
            return self._retry(  # type: ignore[no-any-return]
                lambda: self._update(tenant_id, user_id, mutate, key_id, method, etag, request_id, validate_only,
                                     check))
        except _RolledBack as done:
            return done.user

    def _update(self, tenant_id: int, user_id: str, mutate: Mutation, key_id: str, method: str, etag: str,
                request_id: str, validate_only: bool, check: Callable[[User], None] | None = None) -> User:
        now = now_micros()
        with self._write(unique=True):
            replay = self._replay(tenant_id, request_id, method, user_id)
            if replay is not None:
                return replay
            row = self._fetch(tenant_id, user_id, lock=True)
            current = row_to_user(row)
            if check is not None:  # authorization on the row just read, before the etag says anything
                check(current)
            if etag and not same_etag(etag, current.etag):
                raise Aborted("the user changed since this etag was read; read it again",
                              metadata={"etag": current.etag})
            change = mutate(current)
            new = as_stored(change.user)
            new.ClearField("password")
            # The masked fields, and the flags a changed contact resets, that differ from the row read.
            tops = {p.split(".", 1)[0] for p in change.paths}
            touched = tops | CONTACT_FLAGS
            changed = [name for name in STORED_FIELDS if name in touched and not same_value(current, new, name)]
            values: dict[str, Any] = {}
            for name in changed:
                values.update(field_columns(new, name))
            if change.password_hash is not None:
                values["password_hash"] = change.password_hash
            if values:
                new.etag = new_etag()
                new.update_time.FromMicroseconds(now)
                values["etag"], values["update_time"] = new.etag, now
                # Peewee writes SET clauses in the model's field order: bind the values in that order.
                columns = _update_columns(frozenset(values))
                sql = self._sql(("update", columns), lambda: UserRow.update(
                    {getattr(UserRow, c): None for c in columns}).where(UserRow.seq == 0))
                self._exec(sql, (*(values[c] for c in columns), row[0]))
            written = [p for p in change.paths if p.split(".", 1)[0] in changed or (p == "password"
                       and change.password_hash is not None)] + [n for n in changed if n not in tops]
            self._audit(tenant_id, user_id, key_id, method, written, current, new, now)
            if validate_only:  # nothing is written: the user keeps its etag and update time
                new.etag = current.etag
                new.update_time.CopyFrom(current.update_time)
                raise _RolledBack(new)
            self._remember(tenant_id, request_id, method, new, now)
        return new

    def record_login(self, tenant_id: int, user_id: str, ok: bool, new_hash: str | None) -> User:
        """Keep ``last_login_time`` / ``last_failed_login_time``; store a rehashed password.

        The login times are part of the user, so the etag changes too (CONTRACT: on every write).
        """
        now = now_micros()
        with self._write():
            values: dict[str, Any] = {"last_login_time" if ok else "last_failed_login_time": now,
                                      "etag": new_etag()}
            if new_hash:
                values["password_hash"] = new_hash
            UserRow.update(values).where((UserRow.tenant_id == tenant_id) & (UserRow.id == user_id)).execute(self.db)
            return row_to_user(self._fetch(tenant_id, user_id))


@functools.lru_cache(maxsize=4096)
def _update_columns(names: frozenset[str]) -> tuple[str, ...]:
    """``names`` in the model's field order, the order in which Peewee writes SET clauses."""
    return tuple(c for c in UserRow._meta.sorted_field_names if c in names)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised while handling."""
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__context__


def same_value(a: User, b: User, name: str) -> bool:
    """Whether field ``name`` of two users holds the same value (presence included)."""
    field = User.DESCRIPTOR.fields_by_name[name]
    if field.has_presence and a.HasField(name) != b.HasField(name):
        return False
    return bool(getattr(a, name) == getattr(b, name))


def connect(url: str, busy_timeout_ms: int = 5000, max_page_count: int | None = None) -> Any:
    """A Peewee database from a URL: ``sqlite:///path`` (WAL) or ``postgresql://...`` (pooled, see postgres.py).

    ``max_page_count`` is a test-only knob: it caps the SQLite file this connection may grow,
    which is how the tests make a full disk (SQLITE_FULL) without filling one.
    """
    if url.startswith("sqlite"):
        pragmas: dict[str, Any] = {
            "journal_mode": "wal",
            "synchronous": "normal",
            "busy_timeout": busy_timeout_ms,
            "foreign_keys": 1,
        }
        if max_page_count:
            pragmas["max_page_count"] = max_page_count
        db = db_url.connect(url, pragmas=pragmas)
        return db
    if postgres.is_postgres_url(url):
        return postgres.connect_postgres(url)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")


def page_token(seq: int | None, fingerprint: str) -> str:
    if seq is None:
        return ""
    raw = json.dumps({"s": seq, "f": fingerprint}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_page_token(token: str, fingerprint: str) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        seq, fp = int(data["s"]), str(data["f"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument([Violation("page_token", "not a token this service issued")]) from exc
    if fp != fingerprint:
        raise InvalidArgument([Violation("page_token", "issued for another filter")])
    if not 0 <= seq < 2**63:  # a forged token must not reach the database as an overflow
        raise InvalidArgument([Violation("page_token", "not a token this service issued")])
    return seq


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


__all__ = ["Change", "FailedPrecondition", "KeyRecord", "Store", "User"]
