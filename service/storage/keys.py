"""Tenants and API keys: created by the CLI, read by ``service.auth`` (keys are stored hashed)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from service.errors import NotFound
from service.storage.db import Database
from service.storage.models import ApiKey, Tenant, UserRow


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    tenant_id: int
    tenant_name: str
    role: str
    user_id: str | None
    secret_hash: str
    revoked: bool


def _now() -> int:
    return time.time_ns() // 1000


class Keys:
    def __init__(self, database: Database) -> None:
        self.database = database

    def tenant_id(self, name: str, *, create: bool = False) -> int | None:
        db = self.database.db
        with self.database.write():
            found = Tenant.select(Tenant.id).where(Tenant.name == name).scalar(db)
            if found is None and create:
                found = Tenant.insert(name=name, create_time=_now()).execute(db)
        return int(found) if found is not None else None

    def create_key(self, tenant: str, role: str, user_id: str | None, secret_hash: str, key_id: str) -> None:
        tid = self.tenant_id(tenant, create=True)
        assert tid is not None
        db = self.database.db
        if user_id is not None:
            with self.database.guard():
                exists = UserRow.select(UserRow.seq).where(
                    (UserRow.tenant_id == tid) & (UserRow.id == user_id)).exists(db)
            if not exists:
                raise NotFound(f"user {user_id!r} not found", metadata={"id": user_id})
        with self.database.write():
            ApiKey.insert(id=key_id, tenant_id=tid, role=role, user_id=user_id, secret_hash=secret_hash,
                          create_time=_now()).execute(db)

    def key(self, key_id: str) -> KeyRecord | None:
        sql = self.database.sql("key", lambda: ApiKey.select(
            ApiKey.id, ApiKey.tenant_id, Tenant.name, ApiKey.role, ApiKey.user_id, ApiKey.secret_hash,
            ApiKey.revoke_time).join(Tenant, on=(ApiKey.tenant_id == Tenant.id)).where(ApiKey.id == ""))
        row = self.database.one(sql, (key_id,))
        if row is None:
            return None
        return KeyRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6] is not None)

    def keys(self) -> list[KeyRecord]:
        query = (ApiKey.select(ApiKey.id, ApiKey.tenant_id, Tenant.name, ApiKey.role, ApiKey.user_id,
                               ApiKey.secret_hash, ApiKey.revoke_time)
                 .join(Tenant, on=(ApiKey.tenant_id == Tenant.id)).order_by(ApiKey.create_time).tuples())
        with self.database.guard():
            rows = list(query.execute(self.database.db))
        return [KeyRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6] is not None) for r in rows]

    def revoke_key(self, key_id: str) -> bool:
        with self.database.write():
            return bool(ApiKey.update(revoke_time=_now())
                        .where((ApiKey.id == key_id) & ApiKey.revoke_time.is_null()).execute(self.database.db))
