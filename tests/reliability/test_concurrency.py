"""Concurrent writers against the real server: nothing lost, unique fields decided by the database."""

from __future__ import annotations

import random
import time

import grpc
import pytest
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2, user_service_pb2

from tests.reliability.helpers import Timer, at_once, changes, figure, percentile
from tests.support import Service, unique

pytestmark = pytest.mark.timeout(120)


def test_sixteen_clients_each_updating_their_own_map_key_lose_nothing(service: Service, admin_key: str) -> None:
    clients, rounds = 16, 25
    user = service.create(admin_key)
    latencies: list[float] = []

    def client(c: int) -> list[str]:
        errors = []
        for i in range(rounds):
            start = time.perf_counter()
            reply = service.rest("PATCH", f"/v1/users/{user.id}?updateMask=attributes.k{c}",
                                 {"attributes": {f"k{c}": str(i)}}, key=admin_key)
            latencies.append((time.perf_counter() - start) * 1000)
            if reply.status != 200:
                errors.append(f"{reply.status} {reply.text}")
        return errors

    timer = Timer()
    errors = [e for errs in at_once(clients, client) for e in errs]
    elapsed = timer.seconds
    assert errors == []
    final = service.get_user(admin_key, user.id)
    assert dict(final.attributes) == {f"k{c}": str(rounds - 1) for c in range(clients)}
    updates = [c for c in changes(service, admin_key, user.id) if c.method == "UpdateUser"]
    assert len(updates) == clients * rounds  # every update applied once, each with its own audit record
    assert {tuple(c.paths) for c in updates} == {(f"attributes.k{c}",) for c in range(clients)}
    figure("map_keys_rest", clients=clients, updates=clients * rounds, lost=0, errors=0, seconds=elapsed,
           p50_ms=percentile(latencies, 0.5), p99_ms=percentile(latencies, 0.99))


def _case_variants(text: str, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    variants: set[str] = {text}
    while len(variants) < count:
        variants.add("".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in text))
    return sorted(variants)


@pytest.mark.parametrize("field", ["email", "username"])
def test_eight_updates_racing_for_one_value_one_wins(service: Service, admin_key: str, field: str) -> None:
    clients = 8
    users = [service.create(admin_key) for _ in range(clients)]
    base = unique("race")
    wanted = _case_variants(f"{base}@example.com" if field == "email" else f"{base}.name", clients, 1)

    def client(i: int) -> tuple[int, dict]:
        reply = service.rest("PATCH", f"/v1/users/{users[i].id}?updateMask={field}",
                             {field: wanted[i]}, key=admin_key)
        return reply.status, reply.json

    results = at_once(clients, client)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * (clients - 1), results
    reasons = {d["reason"] for status, body in results if status == 409
               for d in body["details"] if d["@type"].endswith("ErrorInfo")}
    assert reasons == {f"{field.upper()}_TAKEN"}
    winners = [service.get_user(admin_key, u.id) for u in users]
    assert sum(1 for w, want in zip(winners, wanted, strict=True) if getattr(w, field) == want) == 1
    # The losers are untouched: their old value, and no audit record of the attempt.
    for user, now in zip(users, winners, strict=True):
        if getattr(now, field) not in wanted:
            assert now.etag == user.etag
            assert [c.method for c in changes(service, admin_key, user.id)] == ["CreateUser"]


@pytest.mark.parametrize("field", ["email", "username"])
def test_eight_creates_racing_for_one_value_one_wins(service: Service, admin_key: str, field: str) -> None:
    clients = 8
    base = unique("crace")
    wanted = _case_variants(f"{base}@example.com" if field == "email" else f"{base}.name", clients, 2)

    def client(i: int) -> grpc.StatusCode:
        fields = {field: wanted[i]}
        try:
            service.create(admin_key, **fields)
        except grpc.RpcError as err:
            return err.code()  # type: ignore[attr-defined, no-any-return]
        return grpc.StatusCode.OK

    codes = at_once(clients, client)
    assert sorted(c.name for c in codes) == ["ALREADY_EXISTS"] * (clients - 1) + ["OK"]


def test_sixteen_clients_incrementing_with_etags_count_exactly(service: Service, admin_key: str) -> None:
    clients, increments = 16, 8
    user = service.create(admin_key, attributes={"counter": "0"})
    mask = field_mask_pb2.FieldMask(paths=["attributes.counter"])

    def client(_: int) -> int:
        aborted = 0
        for _ in range(increments):
            for _attempt in range(500):
                current = service.get_user(admin_key, user.id)
                n = int(current.attributes["counter"])
                request = user_service_pb2.UpdateUserRequest(
                    user=user_pb2.User(id=user.id, etag=current.etag, attributes={"counter": str(n + 1)}),
                    update_mask=mask)
                try:
                    service.call("UpdateUser", request, admin_key)
                    break
                except grpc.RpcError as err:
                    if err.code() != grpc.StatusCode.ABORTED:  # type: ignore[attr-defined]
                        raise
                    aborted += 1
            else:
                raise AssertionError("no increment got through in 500 attempts")
        return aborted

    timer = Timer()
    aborted = sum(at_once(clients, client))
    elapsed = timer.seconds
    final = service.get_user(admin_key, user.id)
    assert final.attributes["counter"] == str(clients * increments)
    updates = [c for c in changes(service, admin_key, user.id) if c.method == "UpdateUser"]
    assert len(updates) == clients * increments
    figure("etag_counter_grpc", clients=clients, increments=clients * increments, final=final.attributes["counter"],
           aborted_and_retried=aborted, seconds=elapsed)
