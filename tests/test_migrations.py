"""Schema migrations run at start, once, and keep every row; request ids are remembered for a day."""

from __future__ import annotations

import uuid
from pathlib import Path

from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2
from userservice.v1 import user_service_pb2 as api

from service import store as store_module
from service.store import REQUEST_ID_TTL_MICROS, SchemaVersion, Store
from tests.support import Service, fresh_database

User = user_pb2.User


def test_an_older_database_is_migrated_at_start_and_keeps_its_data(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        first = Store(url)
        tenant = first.tenant_id("old", create=True)
        assert tenant is not None
        made = first.create_user(tenant, User(username="kept", nickname="n", state=User.ACTIVE,
                                              auth_type=User.PASSWORD), password_hash=None, key_id="setup")
        # Make it a version-1 database, as an older release left it.
        first.db.execute_sql('DROP INDEX "requests_create_time"')
        first.db.execute_sql('DROP TABLE "syncano_user_numbers"')
        SchemaVersion.delete().where(SchemaVersion.version >= 2).execute(first.db)
        first.close()

        again = Store(url)
        try:
            versions = [v for (v,) in SchemaVersion.select(SchemaVersion.version).tuples().execute(again.db)]
            assert versions == [1, 2, 3] == list(range(1, len(store_module.MIGRATIONS) + 1))
            assert "requests_create_time" in {i.name for i in again.db.get_indexes("requests")}
            assert {"syncano_user_numbers", "syncano_number_counters"} <= set(again.db.get_tables())
            assert again.get_user(tenant, made.id).nickname == "n"
        finally:
            again.close()
        third = Store(url)  # nothing left to apply: no second row for any version
        try:
            assert SchemaVersion.select().count(third.db) == len(store_module.MIGRATIONS)
        finally:
            third.close()


def test_request_id_is_replayed_within_a_day_and_fresh_after(service: Service, admin_key: str) -> None:
    u = service.create(admin_key)
    request_id = str(uuid.uuid4())

    def bump(nickname: str) -> User:
        return service.call("UpdateUser", api.UpdateUserRequest(
            user=User(id=u.id, nickname=nickname), update_mask=field_mask_pb2.FieldMask(paths=["nickname"]),
            request_id=request_id), admin_key)

    first = bump("first")
    assert bump("second").nickname == "first", "a retry within the day returns the first result"
    service.sql("UPDATE requests SET create_time = create_time - ? WHERE request_id = ?",
                (REQUEST_ID_TTL_MICROS + 1, request_id))
    later = bump("second")
    assert later.nickname == "second" and later.etag != first.etag
