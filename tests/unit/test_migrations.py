"""Schema migrations: step 1 is the schema as first released, every later step brings it to the models.

A database made by the released schema, with data in it, is migrated at start and keeps its rows; and a
migrated database has exactly the tables, columns and indexes the models (the field table) declare. So a
field added to the proto without a migration step fails here, on both backends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import peewee as pw

from service.compat import numbers
from service.storage import Store, migrations
from service.storage.db import connect
from service.storage.models import MODELS, SchemaVersion
from tests import factories
from tests.support import fresh_database


def schema(db: Any) -> dict[str, Any]:
    """Every table's columns (name, type, nullable, primary key) and indexes (columns, unique)."""
    out: dict[str, Any] = {}
    for table in sorted(db.get_tables()):
        columns = sorted((c.name, c.data_type.lower(), c.null, c.primary_key) for c in db.get_columns(table))
        indexes = sorted((tuple(i.columns), i.unique) for i in db.get_indexes(table))
        out[table] = {"columns": columns, "indexes": indexes}
    return out


def released(url: str) -> Any:
    """A database as the first release left it: step 1's frozen DDL at version 1, and a user in it."""
    db = connect(url)
    db.connect()
    with db.atomic(), db.bind_ctx([SchemaVersion]):
        db.create_tables([SchemaVersion])
        migrations.STEPS[0](db, None)
        SchemaVersion.insert(version=1, applied_time=0).execute(db)
        db.execute_sql("INSERT INTO tenant (name, create_time) VALUES ('old', 0)")
        db.execute_sql(
            "INSERT INTO users (id, tenant_id, username, username_canon, email_verified, phone_verified, nickname, "
            "state, auth_type, require_password_change, create_time, update_time, etag) "
            "VALUES ('usr_kept', 1, 'kept', 'kept', false, false, 'n', 1, 1, false, 0, 0, '\"e\"')")
    return db


def test_a_released_database_is_migrated_to_head_and_keeps_its_data(tmp_path: Path) -> None:
    with fresh_database(tmp_path / "old") as url:
        released(url).close()
        store = Store(url)
        try:
            versions = [v for (v,) in SchemaVersion.select(SchemaVersion.version).tuples().execute(store.db)]
            assert versions == list(range(1, len(migrations.STEPS) + 1))
            kept = store.users.get(1, "usr_kept")
            assert (kept.username, kept.nickname) == ("kept", "n")
            assert store.users.get(1, factories.stored_user(store, 1).id).username  # and it takes new rows
        finally:
            store.close()
        again = Store(url)  # nothing left to apply: no second row for any version
        try:
            assert SchemaVersion.select().count(again.db) == len(migrations.STEPS)
        finally:
            again.close()


def test_a_migrated_database_has_the_schema_the_models_declare(tmp_path: Path) -> None:
    with fresh_database(tmp_path / "migrated") as migrated_url, fresh_database(tmp_path / "declared") as declared_url:
        released(migrated_url).close()
        Store(migrated_url).close()
        migrated = connect(migrated_url)
        declared = connect(declared_url)
        try:
            declaring = [*MODELS, *numbers.MODELS]
            with declared.bind_ctx(declaring):
                declared.create_tables(declaring)
            assert schema(migrated) == schema(declared)
        finally:
            migrated.close()
            declared.close()


def test_step_one_is_frozen_ddl_not_todays_models() -> None:
    text = (migrations.HERE / "0001_sqlite.sql").read_text()
    assert 'CREATE TABLE "users"' in text and "requests_create_time" not in text
    assert isinstance(connect("sqlite:///:memory:"), pw.SqliteDatabase)
