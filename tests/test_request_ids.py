"""Request ids are remembered for a day with a digest of their request (through the real service)."""

from __future__ import annotations

import uuid

import grpc
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2
from userservice.v1 import user_service_pb2 as api

from service.storage.requests import REQUEST_ID_TTL_MICROS
from tests.support import Reply, Service, unique

User = user_pb2.User


def test_request_id_is_replayed_within_a_day_and_fresh_after(service: Service, admin_key: str) -> None:
    u = service.create(admin_key)
    request_id = str(uuid.uuid4())

    def bump(nickname: str) -> User:
        return service.call("UpdateUser", api.UpdateUserRequest(
            user=User(id=u.id, nickname=nickname), update_mask=field_mask_pb2.FieldMask(paths=["nickname"]),
            request_id=request_id), admin_key)

    first = bump("first")
    assert bump("first").etag == first.etag, "a retry within the day returns the first result"
    service.sql("UPDATE requests SET create_time = create_time - ? WHERE request_id = ?",
                (REQUEST_ID_TTL_MICROS + 1, request_id))
    later = bump("second")
    assert later.nickname == "second" and later.etag != first.etag


def test_a_request_id_with_another_request_is_refused_and_the_same_request_replays(
        service: Service, admin_key: str) -> None:
    u = service.create(admin_key)
    request_id = str(uuid.uuid4())

    def patch(nickname: str) -> Reply:
        return service.rest("PATCH", f"/v1/users/{u.id}?updateMask=nickname&requestId={request_id}",
                            {"nickname": nickname}, key=admin_key)

    first = patch("first")
    assert first.status == 200, first.text
    other = patch("other")
    assert other.status == 400, other.text
    assert [d["reason"] for d in other.json["details"] if "reason" in d] == ["REQUEST_ID_REUSED"]
    assert [v["field"] for d in other.json["details"] for v in d.get("fieldViolations", [])] == ["request_id"]
    assert service.get_user(admin_key, u.id).nickname == "first", "the other request wrote nothing"
    again = patch("first")
    assert again.status == 200 and again.json["etag"] == first.json["etag"]


def test_a_create_request_id_with_another_user_is_refused(service: Service, admin_key: str) -> None:
    request_id = str(uuid.uuid4())
    first = service.call("CreateUser", api.CreateUserRequest(user=User(username=unique()), request_id=request_id),
                         admin_key)
    err = service.error("CreateUser", api.CreateUserRequest(user=User(username=unique()), request_id=request_id),
                        admin_key)
    assert (err.code, err.reason, err.fields) == (grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_ID_REUSED",
                                                  ["request_id"])
    same = service.call("CreateUser", api.CreateUserRequest(user=User(username=first.username),
                                                           request_id=request_id), admin_key)
    assert same.id == first.id
