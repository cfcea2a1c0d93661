"""Edges of the contract a strict client hits: mask spellings, ETag everywhere, limits, If-Match forms."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from userservice.v1 import user_pb2
from userservice.v1 import user_service_pb2 as api
from userservice.v1 import user_service_pb2_grpc as api_grpc

from service.auth import new_key
from service.cli import DEFAULT_DATABASE, _parser
from service.passwords import Hasher, make_context
from service.server import create_server
from service.storage import Store
from service.storage.users import Users
from tests import factories
from tests.support import Service, fresh_database, rpc_error, unique

User = user_pb2.User


def make(service: Service, key: str, **body: Any) -> dict[str, Any]:
    body.setdefault("username", unique())
    reply = service.rest("POST", "/v1/users", body, key=key)
    assert reply.status == 200, reply.text
    return reply.json  # type: ignore[no-any-return]


@pytest.mark.parametrize("query", ["update_mask=nickname,display_name", "updateMask=nickname&updateMask=displayName",
                                   "update_mask=nickname&updateMask=display_name"])
def test_mask_query_in_snake_case_or_repeated(service: Service, admin_key: str, query: str) -> None:
    u = make(service, admin_key, givenName="kept")
    reply = service.rest("PATCH", f"/v1/users/{u['id']}?{query}", {"nickname": "n", "displayName": "d",
                                                                    "givenName": "ignored"}, key=admin_key)
    assert reply.status == 200, reply.text
    assert (reply.json["nickname"], reply.json["displayName"], reply.json["givenName"]) == ("n", "d", "kept")


def test_every_reply_carrying_a_user_has_its_etag_header(service: Service, admin_key: str) -> None:
    created = service.rest("POST", "/v1/users", {"username": unique(), "password": "Etag-pass-123"}, key=admin_key)
    u = created.json
    replies = [created]
    me = service.key("user", tenant="acme", user=u["id"])
    replies.append(service.rest("POST", f"/v1/users/{u['id']}:changePassword",
                                {"currentPassword": "Etag-pass-123", "newPassword": "Etag-pass-456"}, key=me))
    verified = service.rest("POST", "/v1/users:verifyPassword", {"username": u["username"],
                                                                 "password": "Etag-pass-456"}, key=admin_key)
    assert verified.headers["etag"] == verified.json["user"]["etag"]
    replies.append(service.rest("DELETE", f"/v1/users/{u['id']}", key=admin_key))
    replies.append(service.rest("POST", f"/v1/users/{u['id']}:undelete", {}, key=admin_key))
    etags = []
    for reply in replies:
        assert reply.status == 200, reply.text
        assert reply.headers["etag"] == reply.json["etag"]
        etags.append(reply.json["etag"])
    etags.insert(2, verified.json["user"]["etag"])
    assert len(set(etags)) == len(etags), "every write, a login included, changes the etag"


def test_if_match_accepts_weak_unquoted_star_and_lists(service: Service, admin_key: str) -> None:
    u = make(service, admin_key)
    path = f"/v1/users/{u['id']}?updateMask=nickname"
    etag = u["etag"]
    for form in (lambda e: f"W/{e}", lambda e: e.strip('"'), lambda e: f'"nope", {e}'):
        header = form(etag)
        reply = service.rest("PATCH", path, {"nickname": unique()}, key=admin_key, headers={"If-Match": header})
        assert reply.status == 200, (header, reply.text)
        etag = reply.json["etag"]
    star = service.rest("PATCH", path, {"nickname": "star"}, key=admin_key, headers={"If-Match": "*"})
    assert star.status == 200
    stale = service.rest("PATCH", path, {"nickname": "x"}, key=admin_key, headers={"If-Match": f'"a", {etag}'})
    assert stale.status == 409


def test_validate_only_keeps_the_current_etag(service: Service, admin_key: str) -> None:
    u = make(service, admin_key)
    reply = service.rest("PATCH", f"/v1/users/{u['id']}?updateMask=nickname&validateOnly=true", {"nickname": "v"},
                         key=admin_key)
    assert reply.status == 200 and reply.json["etag"] == u["etag"] == reply.headers["etag"]
    real = service.rest("PATCH", f"/v1/users/{u['id']}?updateMask=nickname", {"nickname": "v"}, key=admin_key,
                        headers={"If-Match": reply.json["etag"]})
    assert real.status == 200


def test_page_size_is_capped_at_1000(service: Service) -> None:
    tenant = unique("big")
    key = service.key("admin", tenant=tenant)
    tenant_id = service.store.keys.tenant_id(tenant)
    assert tenant_id is not None
    for i in range(1001):
        factories.stored_user(service.store, tenant_id, username=f"bulk{i}")
    reply = service.rest("GET", "/v1/users?pageSize=5000", key=key)
    assert reply.status == 200
    assert len(reply.json["users"]) == 1000 and reply.json["nextPageToken"]
    rest = service.rest("GET", f"/v1/users?pageSize=5000&pageToken={reply.json['nextPageToken']}", key=key)
    assert len(rest.json["users"]) == 1 and rest.json["nextPageToken"] == ""


def test_forged_page_token_is_400_not_500(service: Service, admin_key: str) -> None:
    tenant_id = service.store.keys.tenant_id("acme")
    fp = hashlib.sha256(repr((tenant_id, "", False)).encode()).hexdigest()[:16]
    token = base64.urlsafe_b64encode(json.dumps({"s": 10**30, "f": fp}).encode()).decode().rstrip("=")
    for bad in (token, "garbage", base64.urlsafe_b64encode(b'{"s": 1, "f": "other"}').decode()):
        reply = service.rest("GET", f"/v1/users?pageToken={bad}", key=admin_key)
        assert reply.status == 400, reply.text
        assert [v["field"] for v in reply.json["details"][0]["fieldViolations"]] == ["page_token"]


@pytest.mark.parametrize(("field", "good", "bad"), [
    ("username", "u" * 64, "u" * 65),
    ("email", "e" * 64 + "@" + "d" * 185 + ".com", "e" * 64 + "@" + "d" * 186 + ".com"),
    ("displayName", "d" * 256, "d" * 257),
    ("birthdate", "0000-12-31", "0000"),
    ("birthdate", "1990", "1990-02-30"),
    ("locale", "en-US", "en_US"),
    ("website", "https://example.com/me", "example.com/me"),
])
def test_field_limits_at_their_boundaries(service: Service, admin_key: str, field: str, good: str, bad: str) -> None:
    u = make(service, admin_key)
    path = f"/v1/users/{u['id']}?updateMask={field}"
    if field == "username":
        good, bad = good[:-10] + unique()[:10], bad[:-10] + unique()[:10]
    ok = service.rest("PATCH", path, {field: good}, key=admin_key)
    assert ok.status == 200, ok.text
    refused = service.rest("PATCH", path, {field: bad}, key=admin_key)
    assert refused.status == 400, refused.text
    fields = [v["field"] for v in refused.json["details"][0]["fieldViolations"]]
    snake = {"displayName": "display_name"}.get(field, field)
    assert fields == [snake]


def test_attribute_count_and_value_limits(service: Service, admin_key: str) -> None:
    u = make(service, admin_key)
    path = f"/v1/users/{u['id']}?updateMask=attributes"
    full = {f"k{i}": "v" for i in range(64)}
    assert service.rest("PATCH", path, {"attributes": full}, key=admin_key).status == 200
    over = service.rest("PATCH", path, {"attributes": {**full, "k64": "v"}}, key=admin_key)
    assert over.status == 400 and "attributes" in over.text
    assert service.rest("PATCH", path, {"attributes": {"a": "x" * 2048}}, key=admin_key).status == 200
    long_value = service.rest("PATCH", path, {"attributes": {"a": "x" * 2049}}, key=admin_key)
    assert long_value.status == 400 and "attributes.a" in long_value.text


def test_unknown_json_fields_are_dropped_and_nothing_is_written(service: Service, admin_key: str) -> None:
    u = make(service, admin_key, nickname="kept")
    reply = service.rest("PATCH", f"/v1/users/{u['id']}", {"nickName": "zz", "bogus": 1}, key=admin_key)
    assert reply.status == 200 and reply.json["nickname"] == "kept" and reply.json["etag"] == u["etag"]


def test_another_tenant_cannot_undelete_or_change_password(service: Service, admin_key: str) -> None:
    u = service.create(admin_key, password="Tenant-pass-123")
    service.call("DeleteUser", api.DeleteUserRequest(id=u.id), admin_key)
    other = service.key("admin", tenant=unique("t"))
    for method, request in (("UndeleteUser", api.UndeleteUserRequest(id=u.id)),
                            ("ChangePassword", api.ChangePasswordRequest(id=u.id, current_password="Tenant-pass-123",
                                                                         new_password="Tenant-pass-456")),
                            ("ListUserChanges", api.ListUserChangesRequest(id=u.id))):
        assert service.error(method, request, other).code == grpc.StatusCode.NOT_FOUND, method


def test_reader_refusal_names_the_paths(service: Service, admin_key: str) -> None:
    u = make(service, admin_key)
    reader = service.key("reader", tenant="acme")
    reply = service.rest("PATCH", f"/v1/users/{u['id']}?updateMask=roles,nickname", {"roles": ["x"]}, key=reader)
    assert reply.status == 403
    info = next(d for d in reply.json["details"] if d["@type"].endswith("ErrorInfo"))
    assert info["metadata"]["paths"] == "nickname,roles"


def test_user_key_may_patch_back_what_it_read(service: Service, admin_key: str) -> None:
    u = make(service, admin_key, roles=["staff"])
    me = service.key("user", tenant="acme", user=u["id"])
    body = service.rest("GET", f"/v1/users/{u['id']}", key=me).json
    body["nickname"] = "mine"
    reply = service.rest("PATCH", f"/v1/users/{u['id']}", body, key=me)
    assert reply.status == 200, reply.text
    assert reply.json["nickname"] == "mine" and reply.json["roles"] == ["staff"]
    body = reply.json
    body["roles"] = ["admin"]
    refused = service.rest("PATCH", f"/v1/users/{u['id']}", body, key=me)
    assert refused.status == 403 and "roles" in refused.text


class BrokenUsers(Users):
    """User reads that fail in a way the service does not expect (fault injection)."""

    def get(self, tenant_id: int, user_id: str) -> User:
        raise RuntimeError("boom at /secret/path/users.db: SELECT * FROM users")


def test_unexpected_failure_is_internal_without_internals(tmp_path: Path) -> None:
    async def scenario() -> tuple[grpc.StatusCode, str]:
        with fresh_database(tmp_path) as url:
            store = Store(url)
            store.users = BrokenUsers(store.database)
            key_id, key, secret_hash = new_key()
            store.keys.create_key("t", "admin", None, secret_hash, key_id)
            hasher = Hasher(make_context(memory_kib=1024, rounds=1))
            running = await create_server(store, hasher)
            try:
                async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
                    stub = api_grpc.UserServiceStub(channel)
                    try:
                        await stub.GetUser(api.GetUserRequest(id="usr_x"),
                                           metadata=(("authorization", f"Bearer {key}"),), timeout=10)
                    except grpc.aio.AioRpcError as err:
                        return err.code(), err.details() or ""
                    raise AssertionError("GetUser succeeded")
            finally:
                await running.server.stop(0)
                hasher.close()
                store.close()

    code, details = asyncio.run(scenario())
    assert code == grpc.StatusCode.INTERNAL and details == "internal error"


def test_serve_defaults_are_the_documented_ones() -> None:
    args = _parser().parse_args(["serve"])
    assert (args.grpc_port, args.http_port, args.listen) == (50051, 8080, "127.0.0.1")
    assert DEFAULT_DATABASE == "sqlite:///data/users.db"
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    assert "serve --database sqlite:///data/users.db --grpc-port 50051 --http-port 8080" in makefile


def test_rpc_error_helper_reads_rich_details(service: Service) -> None:
    try:
        service.call("GetUser", api.GetUserRequest(id="usr_x"), None)
    except grpc.RpcError as err:
        assert rpc_error(err).reason == "MISSING_API_KEY"
