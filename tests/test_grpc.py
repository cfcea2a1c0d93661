"""The gRPC door, straight to the server: rich statuses, etag metadata, mask rules (CONTRACT 4-5)."""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2
from userservice.v1 import user_service_pb2 as api

from tests.support import Service, unique

User = user_pb2.User


def update(service: Service, key: str, user: User, *paths: str, **kw: object) -> User:
    request = api.UpdateUserRequest(user=user, update_mask=field_mask_pb2.FieldMask(paths=list(paths)), **kw)
    return service.call("UpdateUser", request, key)


def update_error(service: Service, key: str, user: User, *paths: str, **kw: object):
    request = api.UpdateUserRequest(user=user, update_mask=field_mask_pb2.FieldMask(paths=list(paths)), **kw)
    return service.error("UpdateUser", request, key)


def test_a_grpc_client_reads_the_etag_from_the_message_not_from_metadata(service: Service, admin_key: str) -> None:
    u = service.create(admin_key)
    got, md = service.call_with_metadata("GetUser", api.GetUserRequest(id=u.id), admin_key)
    assert got.etag == u.etag and "etag" not in md
    updated, md = service.call_with_metadata(
        "UpdateUser", api.UpdateUserRequest(user=User(id=u.id, nickname="n"),
                                            update_mask=field_mask_pb2.FieldMask(paths=["nickname"])), admin_key)
    assert updated.etag != u.etag and "etag" not in md


def test_every_rest_reply_with_a_user_has_its_etag_header(service: Service, admin_key: str) -> None:
    u = service.create(admin_key)
    got = service.rest("GET", f"/v1/users/{u.id}", key=admin_key)
    assert got.headers["etag"] == got.json["etag"] == u.etag
    updated = service.rest("PATCH", f"/v1/users/{u.id}?updateMask=nickname", {"nickname": "n"}, key=admin_key)
    assert updated.headers["etag"] == updated.json["etag"] != u.etag


def test_only_masked_fields_change(service: Service, admin_key: str) -> None:
    u = service.create(admin_key, nickname="keep", display_name="old")
    got = update(service, admin_key, User(id=u.id, nickname="ignored", display_name="new"), "display_name")
    assert got.nickname == "keep" and got.display_name == "new"


def test_bad_fields_come_back_as_one_bad_request(service: Service, admin_key: str) -> None:
    u = service.create(admin_key)
    err = update_error(service, admin_key, User(id=u.id, email="x", locale="not a tag!", picture="nope",
                                                  attributes={"9bad": "v"}),
                       "email", "locale", "picture", "attributes")
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(err.fields) == ["attributes.9bad", "email", "locale", "picture"]


def test_map_key_path_and_camel_case_paths_are_accepted(service: Service, admin_key: str) -> None:
    u = service.create(admin_key, attributes={"a": "1"})
    got = update(service, admin_key, User(id=u.id, attributes={"b": "2"}, display_name="D"),
                 "attributes.b", "displayName")
    assert dict(got.attributes) == {"a": "1", "b": "2"} and got.display_name == "D"


def test_invalid_paths_are_refused_with_the_mask_named(service: Service, admin_key: str) -> None:
    u = service.create(admin_key)
    for paths in (["nope"], ["username.first"], ["attributes.bad-key"], ["*", "email"], ["address.planet"]):
        err = update_error(service, admin_key, User(id=u.id), *paths)
        assert err.code == grpc.StatusCode.INVALID_ARGUMENT, paths
        assert err.fields == ["update_mask"], paths


def test_masked_repeated_field_is_replaced_whole(service: Service, admin_key: str) -> None:
    u = service.create(admin_key, roles=["a", "b"])
    got = update(service, admin_key, User(id=u.id, roles=["c"]), "roles")
    assert list(got.roles) == ["c"]
    err = update_error(service, admin_key, User(id=u.id, roles=["c", "c"]), "roles")
    assert err.fields == ["roles"]


def test_etag_mismatch_is_aborted_with_error_info(service: Service, admin_key: str) -> None:
    u = service.create(admin_key)
    update(service, admin_key, User(id=u.id, nickname="1"), "nickname")
    err = update_error(service, admin_key, User(id=u.id, nickname="2", etag=u.etag), "nickname")
    assert err.code == grpc.StatusCode.ABORTED and err.reason == "ETAG_MISMATCH"


def test_taken_external_id_is_already_exists(service: Service, admin_key: str) -> None:
    ext = unique("sso|")
    service.create(admin_key, external_id=ext)
    other = service.create(admin_key)
    err = update_error(service, admin_key, User(id=other.id, external_id=ext), "external_id")
    assert err.code == grpc.StatusCode.ALREADY_EXISTS and err.reason == "EXTERNAL_ID_TAKEN"


def test_validate_only_checks_uniqueness_but_writes_nothing(service: Service, admin_key: str) -> None:
    a, b = service.create(admin_key), service.create(admin_key)
    err = update_error(service, admin_key, User(id=b.id, username=a.username), "username", validate_only=True)
    assert err.code == grpc.StatusCode.ALREADY_EXISTS
    would = update(service, admin_key, User(id=b.id, nickname="would"), "nickname", validate_only=True)
    assert would.nickname == "would"
    assert service.get_user(admin_key, b.id).etag == b.etag


def test_password_policy_violations_name_the_field(service: Service, admin_key: str) -> None:
    u = service.create(admin_key, username=unique("policy"))
    err = update_error(service, admin_key, User(id=u.id, password="short"), "password")
    assert err.fields == ["password"]
    err = update_error(service, admin_key, User(id=u.id, password=f"xx{u.username.upper()}xx"), "password")
    assert err.fields == ["password"]


def test_audit_record_per_update_with_password_redacted(service: Service, admin_key: str) -> None:
    u = service.create(admin_key)
    update(service, admin_key, User(id=u.id, nickname="n", password="Secret-pass-123"), "nickname", "password")
    changes = service.call("ListUserChanges", api.ListUserChangesRequest(id=u.id), admin_key).changes
    assert [c.method for c in changes] == ["CreateUser", "UpdateUser"]
    last = changes[-1]
    assert sorted(last.paths) == ["nickname", "password"]
    assert "Secret-pass-123" not in last.new_values + last.old_values
    assert last.key_id and '"nickname": "n"' in last.new_values


def test_create_requires_a_username_and_ignores_output_only_fields(service: Service, admin_key: str) -> None:
    err = service.error("CreateUser", api.CreateUserRequest(user=User(email="a@example.com")), admin_key)
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT and err.fields == ["username"]
    made = service.create(admin_key, id="usr_mine", etag="x")
    assert made.id != "usr_mine" and made.etag != "x"
