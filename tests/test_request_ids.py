"""Request ids are remembered for a day (through the real service)."""

from __future__ import annotations

import uuid

from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2
from userservice.v1 import user_service_pb2 as api

from service.storage.requests import REQUEST_ID_TTL_MICROS
from tests.support import Service

User = user_pb2.User


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
