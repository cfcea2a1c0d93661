"""Peewee models: the tables at the head of the migrations.

``UserRow``'s user columns come from the field table (``service.users.fields``): a field added to
the proto gets its column here by itself, and a migration step (``migrations/``) must add it to
existing databases; ``tests/unit/test_migrations.py`` fails until one does.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import peewee as pw

from service.users import fields

#: Models are bound to this proxy for schema work; every query runs on its Store's own database.
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


def _user_model() -> Any:
    attrs: dict[str, Any] = {"seq": pw.AutoField(), "tenant_id": pw.IntegerField()}
    for field in fields.FIELDS:
        for column in field.columns:
            attrs[column.name] = column.make()
    unique = tuple((("tenant_id", f.columns[-1].name), True) for f in fields.UNIQUE)
    attrs["Meta"] = type("Meta", (), {"table_name": "users", "indexes": (*unique, (("tenant_id", "seq"), False))})
    return type("UserRow", (BaseModel,), attrs)


#: One row per user; its columns are the field table's.
UserRow: Any = _user_model()
#: Every column of ``users``, in the order every SELECT of a whole row returns them.
USER_COLUMNS: tuple[str, ...] = tuple(UserRow._meta.sorted_field_names)


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
    #: SHA-256 (hex) of the request, so the same id with another request is refused (migration step 5).
    digest = pw.CharField(max_length=64, null=True)

    class Meta:
        table_name = "requests"
        indexes = ((("tenant_id", "request_id"), True), (("create_time",), False))


class LoginPolicyRow(BaseModel):
    """A tenant's password-guessing settings (``service.users.lockout.LoginPolicy``); NULL: the default."""

    tenant_id = pw.IntegerField(primary_key=True)
    failure_factor = pw.IntegerField(null=True)
    wait_increment_s = pw.IntegerField(null=True)
    max_wait_s = pw.IntegerField(null=True)
    failure_reset_s = pw.IntegerField(null=True)
    delay_after = pw.IntegerField(null=True)
    delay_increment_ms = pw.IntegerField(null=True)
    max_delay_ms = pw.IntegerField(null=True)

    class Meta:
        table_name = "login_policy"


def any_of(tenant: Any, key: Any, count: int) -> Any:
    """Rows whose (``tenant``, ``key``) is one of ``count`` pairs given as parameters, in one statement: a
    disjunction of equalities, which SQLite and PostgreSQL each answer from a unique index per pair (a
    row-value ``IN`` made SQLite scan the table)."""
    return functools.reduce(operator.or_, [(tenant == 0) & (key == "")] * count)


MODELS = [SchemaVersion, Tenant, ApiKey, UserRow, UserChangeRow, RequestRow, LoginPolicyRow]
