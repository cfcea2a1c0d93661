"""UpdateUser answers in the same order whether or not the user is read before the write (issue 7).

The hot path authorizes on the row its write transaction reads; these pin the order of answers:
NOT_FOUND, then PERMISSION_DENIED, then ABORTED (a stale etag never reaches a caller who may not write).
"""

from __future__ import annotations

import uuid

import grpc
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2, user_service_pb2

from tests.support import Service, unique


def update(user_id: str, mask: list[str], etag: str = "", request_id: str = "",
           **fields: object) -> user_service_pb2.UpdateUserRequest:
    return user_service_pb2.UpdateUserRequest(user=user_pb2.User(id=user_id, etag=etag, **fields),
                                              update_mask=field_mask_pb2.FieldMask(paths=mask),
                                              request_id=request_id)


def test_unknown_user_is_not_found_for_a_user_key(service: Service, admin_key: str, user) -> None:
    key = service.key("user", tenant="acme", user=user.id)
    err = service.error("UpdateUser", update("usr_nobody_" + unique(), ["display_name"], display_name="x"), key)
    assert err.code == grpc.StatusCode.NOT_FOUND


def test_user_of_another_tenant_is_not_found(service: Service, user) -> None:
    other = service.key("admin", tenant="other-" + unique())
    err = service.error("UpdateUser", update(user.id, ["display_name"], display_name="x"), other)
    assert err.code == grpc.StatusCode.NOT_FOUND


def test_user_key_on_another_user_is_denied_before_its_etag_is_checked(service: Service, admin_key: str,
                                                                        user) -> None:
    mine = service.create(admin_key)
    key = service.key("user", tenant="acme", user=mine.id)
    for request_id in ("", str(uuid.uuid4())):
        err = service.error("UpdateUser", update(user.id, ["display_name"], etag='"stale"', request_id=request_id,
                                                 display_name="x"), key)
        assert err.code == grpc.StatusCode.PERMISSION_DENIED
        assert "etag" not in err.metadata


def test_reader_key_cannot_update(service: Service, user) -> None:
    reader = service.key("reader", tenant="acme")
    err = service.error("UpdateUser", update(user.id, ["display_name"], display_name="x"), reader)
    assert err.code == grpc.StatusCode.PERMISSION_DENIED


def test_user_key_may_not_write_an_admin_only_field_of_itself(service: Service, admin_key: str, user) -> None:
    key = service.key("user", tenant="acme", user=user.id)
    err = service.error("UpdateUser", update(user.id, ["roles"], etag='"stale"', roles=["admin"]), key)
    assert err.code == grpc.StatusCode.PERMISSION_DENIED
    assert err.reason == "FIELD_NOT_WRITABLE" and err.metadata["paths"] == "roles"
    assert service.get_user(admin_key, user.id).roles == []


def test_stale_etag_is_aborted_and_current_etag_updates(service: Service, admin_key: str, user) -> None:
    err = service.error("UpdateUser", update(user.id, ["display_name"], etag='"stale"', display_name="x"),
                        admin_key)
    assert err.code == grpc.StatusCode.ABORTED
    reply, metadata = service.call_with_metadata(
        "UpdateUser", update(user.id, ["display_name", "given_name"], etag=user.etag, display_name="New Name",
                             given_name="Given"), admin_key)
    assert reply.display_name == "New Name" and reply.given_name == "Given"
    assert reply.etag != user.etag and "etag" not in metadata  # gRPC clients read user.etag
