"""Malformed and random input, and the limits: clear 4xx / client errors, never a 5xx or an internal detail."""

from __future__ import annotations

import json
import random
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2, user_service_pb2

from tests.reliability.helpers import figure
from tests.support import ROOT, Service, unique

pytestmark = pytest.mark.timeout(120)
METHODS = {
    "CreateUser": user_service_pb2.CreateUserRequest,
    "GetUser": user_service_pb2.GetUserRequest,
    "ListUsers": user_service_pb2.ListUsersRequest,
    "UpdateUser": user_service_pb2.UpdateUserRequest,
    "DeleteUser": user_service_pb2.DeleteUserRequest,
    "UndeleteUser": user_service_pb2.UndeleteUserRequest,
    "UnlockUser": user_service_pb2.UnlockUserRequest,
    "ChangePassword": user_service_pb2.ChangePasswordRequest,
    "VerifyPassword": user_service_pb2.VerifyPasswordRequest,
    "ListUserChanges": user_service_pb2.ListUserChangesRequest,
}
#: What no reply may contain: a traceback, SQL, a file path, a database name.
LEAKS = re.compile(r"Traceback|File \"|\.py\b|sqlite|peewee|psycopg|SELECT |INSERT |UPDATE \"|"
                   + re.escape(str(ROOT)) + r"|/tmp/|site-packages", re.IGNORECASE)
SERVER_FAULTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS,
                 grpc.StatusCode.UNIMPLEMENTED}


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(4)
        if op == 0 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif op == 1:
            out.insert(rng.randint(0, len(out)), rng.randrange(256))
        elif op == 2 and out:
            del out[rng.randrange(len(out)):]
        else:
            start = rng.randint(0, len(out))
            out[start:start] = rng.randbytes(rng.randint(1, 16))
    return bytes(out)


def valid_requests(user_id: str) -> dict[str, bytes]:
    user = user_pb2.User(id=user_id, username=unique("fz"), email="f@example.com", display_name="F",
                         attributes={"a": "b"}, address=user_pb2.Address(locality="X"), roles=["r"])
    return {
        "CreateUser": user_service_pb2.CreateUserRequest(user=user).SerializeToString(),
        "GetUser": user_service_pb2.GetUserRequest(id=user_id).SerializeToString(),
        "ListUsers": user_service_pb2.ListUsersRequest(page_size=2, filter='username = "x"').SerializeToString(),
        "UpdateUser": user_service_pb2.UpdateUserRequest(
            user=user, update_mask=field_mask_pb2.FieldMask(paths=["display_name", "attributes.a"]),
        ).SerializeToString(),
        "DeleteUser": user_service_pb2.DeleteUserRequest(id=user_id).SerializeToString(),
        "UndeleteUser": user_service_pb2.UndeleteUserRequest(id=user_id).SerializeToString(),
        "UnlockUser": user_service_pb2.UnlockUserRequest(id=user_id).SerializeToString(),
        "ChangePassword": user_service_pb2.ChangePasswordRequest(
            id=user_id, current_password="Sufficient-Pass-1", new_password="Another-Pass-22").SerializeToString(),
        "VerifyPassword": user_service_pb2.VerifyPasswordRequest(
            username="nobody", password="x").SerializeToString(),
        "ListUserChanges": user_service_pb2.ListUserChangesRequest(id=user_id, page_size=3).SerializeToString(),
    }


def test_500_malformed_or_random_protobuf_payloads(service: Service, admin_key: str) -> None:
    rng = random.Random(500)
    user = service.create(admin_key, display_name="target")
    seeds = valid_requests(user.id)
    md = (("authorization", f"Bearer {admin_key}"),)
    calls = {m: service.channel.unary_unary(f"/userservice.v1.UserService/{m}") for m in METHODS}
    outcomes: dict[str, int] = {}
    for i in range(500):
        method = rng.choice(sorted(METHODS))
        payload = rng.randbytes(rng.randint(0, 200)) if i % 5 == 0 else mutate_bytes(rng, seeds[method])
        try:
            calls[method](payload, metadata=md, timeout=10)
            outcomes["OK"] = outcomes.get("OK", 0) + 1
        except grpc.RpcError as err:
            code = err.code()  # type: ignore[attr-defined]
            details = err.details() or ""  # type: ignore[attr-defined]
            assert code not in SERVER_FAULTS, (method, payload, code, details)
            assert not LEAKS.search(details), (method, details)
            trailers = "".join(str(v) for _, v in (err.trailing_metadata() or ()))  # type: ignore[attr-defined]
            assert not LEAKS.search(trailers), (method, trailers)
            outcomes[code.name] = outcomes.get(code.name, 0) + 1
    assert service.process.poll() is None
    service.get_user(admin_key, user.id)  # still serving
    figure("fuzz_protobuf", payloads=500, server_errors=0, leaks=0, outcomes=outcomes)


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2**31, 2**63, -(2**64), 1e308, -1e-308, 3.5])
    if kind in (3, 4, 5):
        return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0x2FFF),
                                       rng.randrange(0xE000, 0x10FFFF), 0x202E, 0x200B, 0])) for _ in
                       range(rng.randint(0, 20)))
    if kind in (6, 7):
        keys = ["username", "email", "displayName", "attributes", "address", "roles", "state", "authType",
                "updateMask", "user", "etag", "requestId", "validateOnly", "password", "externalId", "x"]
        return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}
    return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def mangle(rng: random.Random, text: str) -> str:
    cut = rng.randrange(len(text) + 1)
    return rng.choice([text[:cut], text[:cut] + rng.choice(["{", "]", ",", "\\", '"', "\x00", "ÿ"]) + text[cut:],
                       text.replace('"', "'", 1), text + text])


def test_500_malformed_or_random_json_payloads(service: Service, admin_key: str) -> None:
    rng = random.Random(501)
    user = service.create(admin_key, display_name="target")
    routes = [("POST", "/v1/users"), ("PATCH", f"/v1/users/{user.id}"),
              ("PATCH", f"/v1/users/{user.id}?updateMask=displayName,attributes.a"),
              ("PATCH", f"/v1/users/{user.id}?updateMask=%FF,,.."), ("DELETE", f"/v1/users/{user.id}x"),
              ("POST", f"/v1/users/{user.id}:changePassword"), ("POST", "/v1/users:verifyPassword"),
              ("POST", f"/v1/users/{user.id}:undelete"), ("GET", "/v1/users?pageSize=-5&pageToken=%%"),
              ("GET", "/v1/users?filter=%22%22%22"), ("PUT", "/v1/users/x")]
    payloads: list[tuple[str, str, bytes]] = []
    for i in range(500):
        method, path = rng.choice(routes)
        body = json.dumps(random_json(rng))
        if i % 3 == 0:
            body = mangle(rng, body)
        raw = body.encode("utf-8", "surrogatepass") if i % 7 else rng.randbytes(rng.randint(0, 64))
        payloads.append((method, path, raw))

    def send(item: tuple[str, str, bytes]) -> tuple[int, str]:
        method, path, raw = item
        reply = service.rest(method, path, raw=raw, key=admin_key)
        return reply.status, reply.text

    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(send, payloads))
    statuses: dict[int, int] = {}
    for (method, path, raw), (status, text) in zip(payloads, replies, strict=True):
        assert status < 500, (method, path, raw, status, text)
        assert not LEAKS.search(text), (method, path, text)
        if status >= 400:
            json.loads(text)  # every rejection is JSON
        statuses[status] = statuses.get(status, 0) + 1
    assert service.process.poll() is None
    figure("fuzz_json", payloads=500, server_errors=0, leaks=0, statuses=dict(sorted(statuses.items())))


def test_a_body_over_one_mib_is_413_over_rest_and_resource_exhausted_over_grpc(service: Service,
                                                                              admin_key: str) -> None:
    user = service.create(admin_key)
    big = {"displayName": "x", "attributes": {"a": "y" * (1 << 20)}}
    reply = service.rest("PATCH", f"/v1/users/{user.id}", big, key=admin_key)
    assert reply.status == 413 and reply.json["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    request = user_service_pb2.UpdateUserRequest(user=user_pb2.User(id=user.id, attributes={"a": "y" * (1 << 20)}))
    err = service.error("UpdateUser", request, admin_key)
    assert err.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert service.get_user(admin_key, user.id).etag == user.etag


def test_a_mask_of_more_than_100_paths_is_refused(service: Service, admin_key: str) -> None:
    user = service.create(admin_key, attributes={"keep": "me"})
    paths = [f"attributes.k{i}" for i in range(101)]
    err = service.error("UpdateUser", user_service_pb2.UpdateUserRequest(
        user=user_pb2.User(id=user.id), update_mask=field_mask_pb2.FieldMask(paths=paths)), admin_key)
    assert (err.code, err.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["update_mask"])
    done = service.call("UpdateUser", user_service_pb2.UpdateUserRequest(
        user=user_pb2.User(id=user.id, attributes={"k0": "v"}),
        update_mask=field_mask_pb2.FieldMask(paths=paths[:100])), admin_key)
    assert dict(done.attributes) == {"keep": "me", "k0": "v"}


@pytest.mark.parametrize(("first", "second"), [
    ("Strasse.{n}", "STRAßE.{n}"),  # case folding: ß -> ss
    ("file.{n}", "ﬁle.{n}"),  # NFKC: the ligature
    ("user.{n}", "\uff55\uff53\uff45\uff52.{n}"),  # NFKC: fullwidth letters
    ("Kelvin.{n}", "\u212aelvin.{n}"),  # NFKC: the Kelvin sign
])
def test_usernames_equal_after_nfkc_and_case_folding_collide(service: Service, admin_key: str, first: str,
                                                              second: str) -> None:
    n = unique("")
    service.create(admin_key, username=first.format(n=n))
    err = service.error("CreateUser", user_service_pb2.CreateUserRequest(
        user=user_pb2.User(username=second.format(n=n))), admin_key)
    assert (err.code, err.reason) == (grpc.StatusCode.ALREADY_EXISTS, "USERNAME_TAKEN")


def test_emails_equal_after_nfkc_and_case_folding_collide(service: Service, admin_key: str) -> None:
    n = unique("")
    service.create(admin_key, email=f"Jose.{n}@Example.com")
    other = service.create(admin_key)
    err = service.error("UpdateUser", user_service_pb2.UpdateUserRequest(
        user=user_pb2.User(id=other.id, email=f"\uff2a\uff2f\uff33\uff25.{n}@example.COM"),
        update_mask=field_mask_pb2.FieldMask(paths=["email"])), admin_key)
    assert (err.code, err.reason) == (grpc.StatusCode.ALREADY_EXISTS, "EMAIL_TAKEN")


@pytest.mark.parametrize("invisible", ["\u202e", "\u200b", "\u200d", "\ufeff", "\u2066"])
def test_bidi_and_zero_width_characters_are_refused(service: Service, admin_key: str, invisible: str) -> None:
    n = unique("")
    err = service.error("CreateUser", user_service_pb2.CreateUserRequest(
        user=user_pb2.User(username=f"ad{invisible}min{n}", email=f"a{invisible}b{n}@example.com")), admin_key)
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(err.fields) == ["email", "username"]


def test_caches_keyed_by_what_callers_send_stay_bounded(tmp_path: Any) -> None:
    """Masks and changed-column sets are the caller's choice: the plan and SQL caches must not grow without end."""
    import itertools

    from service.storage import Store
    from service.storage.models import UserRow
    from service.users import fields, masks

    names = sorted(fields.SELF_SERVICE - {"password"})
    limit = masks.explicit_plan.cache_info().maxsize
    assert limit is not None
    chosen = itertools.islice((c for n in range(1, len(names) + 1) for c in itertools.combinations(names, n)),
                              limit + 50)
    for mask in chosen:
        assert masks.plan(list(mask), user_pb2.User()).fields == set(mask)
        assert masks.explicit_plan.cache_info().currsize <= limit
    store = Store(f"sqlite:///{tmp_path / 'cache.db'}")
    try:
        for i in range(4096 + 50):
            sql = store.database.sql(("update", i), lambda: UserRow.update(display_name="").where(UserRow.seq == 0))
            assert sql.startswith('UPDATE "users" SET "display_name"')
            assert store.database.statements_cached() <= 4096
    finally:
        store.close()
