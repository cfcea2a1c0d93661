"""The reply is what a re-read returns: bugs the property tests found, checked through the real service."""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2, user_service_pb2

from tests.reliability.helpers import changes
from tests.support import Service, unique


def update(user: user_pb2.User, *paths: str) -> user_service_pb2.UpdateUserRequest:
    return user_service_pb2.UpdateUserRequest(user=user, update_mask=field_mask_pb2.FieldMask(paths=paths))


def test_a_changed_email_resets_email_verified_in_the_stored_user(service: Service, admin_key: str) -> None:
    name = unique("verified")
    user = service.create(admin_key, username=name, email=f"{name}@example.com", email_verified=True)
    new_email = f"{name}.new@example.com"
    reply = service.call("UpdateUser", update(user_pb2.User(id=user.id, email=new_email), "email"), admin_key)
    stored = service.get_user(admin_key, user.id)
    assert (reply.email_verified, stored.email_verified) == (False, False)
    assert stored.email == new_email and reply == stored
    record = changes(service, admin_key, user.id)[-1]
    assert list(record.paths) == ["email", "email_verified"]


def test_an_empty_optional_string_on_an_absent_field_changes_nothing(service: Service, admin_key: str) -> None:
    user = service.create(admin_key)
    reply = service.call("UpdateUser", update(user_pb2.User(id=user.id, locale=""), "locale"), admin_key)
    assert reply.etag == user.etag and not reply.HasField("locale")
    assert service.get_user(admin_key, user.id) == reply
    record = changes(service, admin_key, user.id)[-1]  # every successful update is audited (CONTRACT 4.11)
    assert (record.method, list(record.paths)) == ("UpdateUser", [])


def test_a_mask_path_ending_in_a_dot_is_refused(service: Service, admin_key: str) -> None:
    user = service.create(admin_key, attributes={"keep": "me"}, display_name="kept")
    for path in ("attributes.", "display_name.", "address."):
        err = service.error("UpdateUser", update(user_pb2.User(id=user.id), path), admin_key)
        assert (err.code, err.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["update_mask"]), path
    stored = service.get_user(admin_key, user.id)
    assert dict(stored.attributes) == {"keep": "me"} and stored.etag == user.etag


def test_a_non_ascii_etag_is_a_mismatch_not_an_internal_error(service: Service, admin_key: str) -> None:
    user = service.create(admin_key)
    err = service.error("UpdateUser", update(user_pb2.User(id=user.id, etag='"é"', display_name="x"),
                                             "display_name"), admin_key)
    assert (err.code, err.reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
    reply = service.rest("POST", f"/v1/users/{user.id}:undelete", {"etag": "\u202e"}, key=admin_key)
    assert reply.status == 409
