"""userdocks' "PUT /users/:userId" (seed 001) through the real Envoy, with X-API-KEY/-TYPE/X-CLIENT-ID."""

from __future__ import annotations

import re
from typing import Any

from userservice.v1 import user_pb2

from tests.support import Service, unique


def headers(key: str, kind: str = "write", client: str = "acme") -> dict[str, str]:
    return {"x-api-key": key, "x-api-key-type": kind, "x-client-id": client}


def update(service: Service, user_id: str, body: Any, hdrs: dict[str, str], query: str = ""):
    return service.rest("PUT", f"/v1/users/{user_id}{query}", body, headers=hdrs)


def named(reply) -> list[str]:
    """The fields an error names: ``CODE: user.a (...); user.b (...)``."""
    return sorted(re.findall(r"(?:^[A-Z_]+: |; )([\w.]+) \(", reply.json["error"]))


def test_documented_claims_and_extras(service: Service, admin_key: str, user: Any) -> None:
    name = unique("pref")
    body = {"user": {"language": "de", "salutation": "Mr", "salutationOther": "Sir", "acceptedNewsletter": True,
                     "name": "Max Mustermann", "given_name": "Max", "family_name": "Mustermann",
                     "middle_name": "M", "nickname": "maxi", "preferred_username": name,
                     "profile": "https://example.com/max", "picture": "https://example.com/max.png",
                     "website": "https://max.example.com", "email": "max@example.com", "gender": "other",
                     "other_gender": "nonbinary", "birthdate": "1990-01-31", "zoneinfo": "Europe/Berlin",
                     "locale": "de-DE", "phone_number": "+4915112345678"}, "test": False}
    reply = update(service, user.id, body, headers(admin_key))
    assert reply.status == 200, reply.text
    out = reply.json
    assert out["success"] is True and out["error"] is None and isinstance(out["message"], str)
    data = out["data"]
    for k, v in body["user"].items():
        assert data[k] == v, k
    assert data["id"] == user.id and data["freezed"] is False and "password" not in data
    got = service.get_user(admin_key, user.id)
    assert (got.display_name, got.username, got.given_name, got.phone_number, got.zoneinfo) == (
        "Max Mustermann", name, "Max", "+4915112345678", "Europe/Berlin")
    assert dict(got.attributes) == {"language": "de", "salutation": "Mr", "salutationOther": "Sir",
                                    "acceptedNewsletter": "true", "other_gender": "nonbinary"}
    assert reply.headers["etag"] == got.etag


def test_partial_update_keeps_the_rest_and_empty_clears(service: Service, admin_key: str, user: Any) -> None:
    update(service, user.id, {"user": {"nickname": "nick", "language": "fr"}}, headers(admin_key))
    reply = update(service, user.id, {"user": {"nickname": "", "language": ""}}, headers(admin_key))
    assert reply.status == 200, reply.text
    got = service.get_user(admin_key, user.id)
    assert not got.nickname and "language" not in got.attributes and got.email == user.email


def test_example_fields_id_and_freezed(service: Service, admin_key: str, user: Any) -> None:
    reply = update(service, user.id, {"user": {"id": user.id, "freezed": True, "tenantId": True}},
                   headers(admin_key))
    assert reply.status == 200 and reply.json["data"]["freezed"] is True
    assert service.get_user(admin_key, user.id).state == user_pb2.User.LOCKED
    wrong = update(service, user.id, {"user": {"id": "usr_other"}}, headers(admin_key))
    assert wrong.status == 400 and named(wrong) == ["user.id"]


def test_bearer_token_access(service: Service, admin_key: str, user: Any) -> None:
    own = service.key("user", tenant="acme", user=user.id)
    reply = update(service, user.id, {"user": {"given_name": "Self"}}, {"authorization": f"Bearer {own}"})
    assert reply.status == 200 and service.get_user(admin_key, user.id).given_name == "Self"


def test_every_bad_claim_is_named(service: Service, admin_key: str, user: Any) -> None:
    reply = update(service, user.id, {"user": {"email": "nope", "phone_number": "123", "birthdate": "1990-13-01",
                                                "preferred_username": ""}}, headers(admin_key))
    assert reply.status == 400
    out = reply.json
    assert out["success"] is False and out["message"] is None and out["data"] is None
    assert out["error"].startswith("INVALID_ARGUMENT: ")
    assert named(reply) == ["user.birthdate", "user.email", "user.phone_number", "user.preferred_username"]


def test_test_flag_true_is_refused_false_is_a_no_op(service: Service, admin_key: str, user: Any) -> None:
    refused = update(service, user.id, {"user": {"nickname": "t"}, "test": True}, headers(admin_key))
    assert refused.status == 400 and named(refused) == ["test"]
    query = update(service, user.id, {"user": {"nickname": "t"}}, headers(admin_key), query="?test=true")
    assert query.status == 400 and named(query) == ["test"]
    assert update(service, user.id, {"user": {"nickname": "t"}, "test": False}, headers(admin_key)).status == 200


def test_deleted_true_is_refused(service: Service, admin_key: str, user: Any) -> None:
    reply = update(service, user.id, {"user": {"deleted": True}}, headers(admin_key))
    assert reply.status == 400 and named(reply) == ["user.deleted"]


def test_read_key_type_or_reader_key_cannot_write(service: Service, admin_key: str, user: Any) -> None:
    read = update(service, user.id, {"user": {"nickname": "r"}}, headers(admin_key, kind="read"))
    assert read.status == 403 and read.json["error"].startswith("PERMISSION_DENIED")
    reader = service.key("reader", tenant="acme")
    assert update(service, user.id, {"user": {"nickname": "r"}}, headers(reader)).status == 403
    assert not service.get_user(admin_key, user.id).nickname


def test_client_id_must_name_the_tenant(service: Service, admin_key: str, user: Any) -> None:
    assert update(service, user.id, {"user": {"nickname": "c"}}, headers(admin_key, client="globex")).status == 403
    missing = {"x-api-key": admin_key, "x-api-key-type": "write"}
    assert update(service, user.id, {"user": {"nickname": "c"}}, missing).status == 401


def test_bad_key_is_401_and_unknown_user_404(service: Service, admin_key: str, user: Any) -> None:
    bad = update(service, user.id, {"user": {"nickname": "b"}}, headers("usk_bad_key"))
    assert bad.status == 401 and bad.json["success"] is False and bad.json["error"].startswith("UNAUTHENTICATED")
    gone = update(service, "usr_nobody000000000000", {"user": {"nickname": "b"}}, headers(admin_key))
    assert gone.status == 404 and gone.json["error"].startswith("NOT_FOUND")
