"""AIP-155 request ids (a retry returns the first result, applied once) and the audit trail (ListUserChanges)."""

from __future__ import annotations

import json
import uuid

import grpc
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2, user_service_pb2

from tests.reliability.helpers import at_once, changes
from tests.support import Service, unique


def rename(user_id: str, name: str, request_id: str) -> user_service_pb2.UpdateUserRequest:
    return user_service_pb2.UpdateUserRequest(user=user_pb2.User(id=user_id, display_name=name),
                                              update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
                                              request_id=request_id)


def key_id(key: str) -> str:
    return key.split("_")[1]


def test_a_retried_update_returns_the_first_result_and_applies_once(service: Service, admin_key: str) -> None:
    user = service.create(admin_key)
    request_id = str(uuid.uuid4())
    first = service.call("UpdateUser", rename(user.id, "first", request_id), admin_key)
    service.call("UpdateUser", rename(user.id, "between", ""), admin_key)
    again = service.call("UpdateUser", rename(user.id, "first", request_id), admin_key)
    assert again == first  # the first reply, etag included, even though the user changed since
    assert service.get_user(admin_key, user.id).display_name == "between"  # not applied a second time
    assert [c.method for c in changes(service, admin_key, user.id)] == ["CreateUser", "UpdateUser", "UpdateUser"]


def test_concurrent_retries_of_one_request_apply_once(service: Service, admin_key: str) -> None:
    user = service.create(admin_key, attributes={"n": "0"})
    request_id = str(uuid.uuid4())
    request = user_service_pb2.UpdateUserRequest(
        user=user_pb2.User(id=user.id, attributes={"n": "1"}, etag=user.etag),
        update_mask=field_mask_pb2.FieldMask(paths=["attributes.n"]), request_id=request_id)
    replies = at_once(8, lambda _: service.call("UpdateUser", request, admin_key))
    assert len({r.etag for r in replies}) == 1  # no ABORTED either: the retries replay, they do not re-check
    assert [c.method for c in changes(service, admin_key, user.id)] == ["CreateUser", "UpdateUser"]


def test_a_retried_create_returns_the_same_user(service: Service, admin_key: str) -> None:
    request = user_service_pb2.CreateUserRequest(user=user_pb2.User(username=unique("idem")),
                                                 request_id=str(uuid.uuid4()))
    first = service.call("CreateUser", request, admin_key)
    assert service.call("CreateUser", request, admin_key) == first  # not ALREADY_EXISTS: a replay


def test_a_retry_over_rest_with_the_request_id_in_the_query(service: Service, admin_key: str) -> None:
    user = service.create(admin_key)
    path = f"/v1/users/{user.id}?updateMask=displayName&requestId={uuid.uuid4()}"
    first = service.rest("PATCH", path, {"displayName": "once"}, key=admin_key)
    again = service.rest("PATCH", path, {"displayName": "once"}, key=admin_key)
    assert first.status == again.status == 200 and first.json == again.json
    assert len(changes(service, admin_key, user.id)) == 2


def test_request_ids_must_be_uuids_and_belong_to_one_call(service: Service, admin_key: str) -> None:
    user, other = service.create(admin_key), service.create(admin_key)
    err = service.error("UpdateUser", rename(user.id, "x", "not-a-uuid"), admin_key)
    assert (err.code, err.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["request_id"])
    request_id = str(uuid.uuid4())
    service.call("UpdateUser", rename(user.id, "x", request_id), admin_key)
    err = service.error("DeleteUser", user_service_pb2.DeleteUserRequest(id=user.id, request_id=request_id),
                        admin_key)
    assert (err.code, err.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["request_id"])
    # Reused for another user: refused, never that other user's stored reply.
    err = service.error("UpdateUser", rename(other.id, "x", request_id), admin_key)
    assert (err.code, err.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["request_id"])
    assert service.get_user(admin_key, other.id).display_name == ""


def test_list_user_changes_records_who_what_and_redacts_passwords(service: Service) -> None:
    admin = service.key("admin", tenant=unique("audit"))
    user = service.create(admin, username=unique("aud"), display_name="Old", password="Sufficient-Pass-1")
    update = user_service_pb2.UpdateUserRequest(
        user=user_pb2.User(id=user.id, display_name="New", password="Another-Pass-22", attributes={"a": "1"}),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name", "password", "attributes.a"]))
    service.call("UpdateUser", update, admin)
    service.call("DeleteUser", user_service_pb2.DeleteUserRequest(id=user.id), admin)
    records = changes(service, admin, user.id)
    assert [r.method for r in records] == ["CreateUser", "UpdateUser", "DeleteUser"]
    assert all(r.key_id == key_id(admin) and r.user_id == user.id for r in records)
    assert records[0].sequence < records[1].sequence < records[2].sequence
    updated = records[1]
    assert list(updated.paths) == ["attributes.a", "display_name", "password"]
    assert json.loads(updated.old_values) == {"display_name": "Old"}
    assert json.loads(updated.new_values) == {"display_name": "New", "attributes": {"a": "1"}}
    assert list(records[2].paths) == ["state"]
    assert json.loads(records[2].new_values) == {"state": "DELETED"}
    for record in records:
        text = record.SerializeToString()
        assert b"Pass-" not in text and b"argon2" not in text and b"password\":" not in text
        assert record.change_time.ToMicroseconds() > 0
    # Paged, and over REST.
    page = service.call("ListUserChanges", user_service_pb2.ListUserChangesRequest(id=user.id, page_size=2), admin)
    assert len(page.changes) == 2 and page.next_page_token
    rest = service.rest("GET", f"/v1/users/{user.id}/changes?pageSize=1", key=admin)
    assert rest.status == 200 and rest.json["changes"][0]["method"] == "CreateUser"


def test_list_user_changes_is_admin_only(service: Service, admin_key: str) -> None:
    user = service.create(admin_key)
    for key in (service.key("reader"), service.key("user", user=user.id)):
        err = service.error("ListUserChanges", user_service_pb2.ListUserChangesRequest(id=user.id), key)
        assert err.code == grpc.StatusCode.PERMISSION_DENIED
