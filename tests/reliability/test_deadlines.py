"""Deadlines of 1-50 ms and client cancellations: every update is all or nothing on re-read."""

from __future__ import annotations

import json
import random
import time

import grpc
import pytest
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2, user_service_pb2

from tests.reliability.helpers import changes, figure
from tests.support import Service

pytestmark = pytest.mark.timeout(120)
PATHS = ["display_name", "nickname", "attributes.a", "attributes.b", "address.locality"]


def generation(user: user_pb2.User) -> set[str]:
    """The generation each updated field holds: all or nothing means exactly one."""
    return {user.display_name, user.nickname, user.attributes.get("a", ""), user.attributes.get("b", ""),
            user.address.locality}


def request(user_id: str, gen: str, password: bool) -> user_service_pb2.UpdateUserRequest:
    user = user_pb2.User(id=user_id, display_name=gen, nickname=gen, attributes={"a": gen, "b": gen},
                         address=user_pb2.Address(locality=gen))
    paths = list(PATHS)
    if password:  # hashed before the transaction: a cancellation can land while the call awaits the hash
        user.password = f"Pass-{gen}-long-enough"
        paths.append("password")
    return user_service_pb2.UpdateUserRequest(user=user, update_mask=field_mask_pb2.FieldMask(paths=paths))


def test_short_deadlines_and_cancellations_leave_every_update_whole(service: Service, admin_key: str) -> None:
    rng = random.Random(50)
    user = service.create(admin_key, **{"display_name": "g0", "nickname": "g0", "attributes": {"a": "g0", "b": "g0"},
                                        "address": user_pb2.Address(locality="g0")})
    md = (("authorization", f"Bearer {admin_key}"),)
    outcomes: dict[str, int] = {}
    for i in range(1, 201):
        gen = f"g{i}"
        req = request(user.id, gen, password=i % 10 == 0)
        try:
            if i % 4 == 0:  # cancel after 0-20 ms
                future = service.stub.UpdateUser.future(req, metadata=md, timeout=5)
                time.sleep(rng.uniform(0, 0.02))
                future.cancel()
                future.result()
            else:
                deadline = rng.uniform(0.001, 0.05) if i % 2 else rng.uniform(0.001, 0.005)  # half of them tight
                service.stub.UpdateUser(req, metadata=md, timeout=deadline)
            outcome = "OK"
        except grpc.FutureCancelledError:
            outcome = "CANCELLED"
        except grpc.RpcError as err:
            outcome = err.code().name  # type: ignore[attr-defined]
        assert outcome in ("OK", "CANCELLED", "DEADLINE_EXCEEDED"), outcome
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        now = service.get_user(admin_key, user.id)
        assert len(generation(now)) == 1, (i, now)
    time.sleep(0.2)  # let the server finish what the clients gave up on
    final = service.get_user(admin_key, user.id)
    assert len(generation(final)) == 1
    records = [r for r in changes(service, admin_key, user.id) if r.method == "UpdateUser"]
    for record in records:  # every applied update wrote every one of its fields, in one record
        new = json.loads(record.new_values)
        gens = {new["display_name"], new["nickname"], new["attributes"]["a"], new["attributes"]["b"],
                new["address"]["locality"]}
        assert len(gens) == 1
        assert set(PATHS) <= set(record.paths)
    if records:
        assert json.loads(records[-1].new_values)["display_name"] == final.display_name
    assert len(records) >= outcomes.get("OK", 0)
    figure("deadlines_cancellations", calls=200, outcomes=outcomes, applied=len(records),
           applied_after_client_gave_up=len(records) - outcomes.get("OK", 0), partial=0)
