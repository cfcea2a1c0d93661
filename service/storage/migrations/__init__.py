"""Versioned schema migrations, applied in order at start, each in its own transaction. Append only.

Step 1 is frozen DDL: the schema as first released (``0001_<dialect>.sql``), never generated from
today's models, so a later step that adds a column works on fresh and old databases alike. Every later
step is a ``playhouse.migrate`` operation (or a list of them). Replicas starting together serialize on
a PostgreSQL advisory lock: one migrates, the others then find it done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import peewee as pw
from playhouse import migrate

from service.storage import postgres
from service.storage.models import SchemaVersion

HERE = Path(__file__).parent
Step = Callable[[Any, Any], None]  # (database, migrator)


def _frozen(db: Any, migrator: Any) -> None:
    dialect = "sqlite" if isinstance(db, pw.SqliteDatabase) else "postgresql"
    for statement in (HERE / f"0001_{dialect}.sql").read_text().split(";\n"):
        if statement.strip():
            db.execute_sql(statement)


def _requests_create_time(db: Any, migrator: Any) -> None:
    """Request ids expire: index their age, so expired ones are found fast. Databases made between this
    step's release and the freezing of step 1 already have the index."""
    if "requests_create_time" not in {index.name for index in db.get_indexes("requests")}:
        migrate.migrate(migrator.add_index("requests", ("create_time",), False))


def _syncano_numbers(db: Any, migrator: Any) -> None:
    """Syncano's integer user ids: their tables and models are in service/compat/numbers.py."""
    from service.compat import numbers

    db.create_tables(numbers.MODELS)


def _login_lockout(db: Any, migrator: Any) -> None:
    """Password guessing (docs/api.md, "Password guessing"): each user's failure count and lockout end,
    and the tenants' settings."""
    from service.storage.models import LoginPolicyRow

    migrate.migrate(migrator.add_column("users", "failed_login_count", pw.IntegerField(default=0)),
                    migrator.add_column("users", "lockout_end_time", pw.BigIntegerField(null=True)))
    with db.bind_ctx([LoginPolicyRow]):
        db.create_tables([LoginPolicyRow])


def _request_digest(db: Any, migrator: Any) -> None:
    """A request id remembers a digest of its request: the same id with another request is refused."""
    migrate.migrate(migrator.add_column("requests", "digest", pw.CharField(max_length=64, null=True)))


#: The steps, in order: step N brings a database from version N-1 to N.
STEPS: list[Step] = [_frozen, _requests_create_time, _syncano_numbers, _login_lockout, _request_digest]


def run(db: Any) -> int:
    """Apply every step newer than the database; returns the schema version."""
    is_sqlite = isinstance(db, pw.SqliteDatabase)
    migrator = migrate.SchemaMigrator.from_database(db)
    with db.atomic("IMMEDIATE") if is_sqlite else db.atomic(), db.bind_ctx([SchemaVersion]):
        if not is_sqlite:
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (postgres.MIGRATION_LOCK_ID,))
        db.create_tables([SchemaVersion])
        current = SchemaVersion.select(pw.fn.MAX(SchemaVersion.version)).scalar(db) or 0
        for version, step in enumerate(STEPS[current:], start=current + 1):
            step(db, migrator)
            SchemaVersion.insert(version=version, applied_time=time.time_ns() // 1000).execute(db)
    return len(STEPS)
