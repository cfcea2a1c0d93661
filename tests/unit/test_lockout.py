"""The rules of password guessing and of the fair hash queue, in process (docs/api.md, "Password guessing")."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2, user_service_pb2_grpc
from userservice.v1 import user_service_pb2 as api

from service.auth import new_key
from service.errors import PermissionDenied, ResourceExhausted
from service.passwords import Hasher, make_context
from service.server import create_server
from service.storage import Store
from service.users.commands import RecordLogin
from service.users.lockout import MICROS, LoginPolicy, refusal
from tests import factories

User = user_pb2.User
NOW = 1_800_000_000 * MICROS


def test_the_tarpit_grows_after_delay_after_failures_up_to_its_maximum() -> None:
    policy = LoginPolicy(delay_after=3, delay_increment_ms=500, max_delay_ms=1200)
    assert [policy.delay(n) for n in range(6)] == [0.0, 0.0, 0.0, 0.5, 1.0, 1.2]


def test_lockouts_start_at_each_multiple_of_the_failure_factor_and_grow_to_max_wait() -> None:
    policy = LoginPolicy(failure_factor=3, wait_increment_s=60, max_wait_s=150)
    assert [policy.lockout(n) // MICROS for n in range(1, 13)] == [0, 0, 60, 0, 0, 120, 0, 0, 150, 0, 0, 150]


def test_no_setting_allows_more_than_100_failures_before_a_lockout() -> None:
    assert LoginPolicy(failure_factor=100).problems() == []
    assert LoginPolicy(failure_factor=101).problems() == ["failure_factor must be 1-100"]
    assert LoginPolicy(wait_increment_s=60, max_wait_s=30).problems() == [
        "max_wait_s must be at least wait_increment_s"]


def test_failures_older_than_the_reset_time_do_not_count() -> None:
    policy = LoginPolicy(failure_reset_s=60)
    user = User(failed_login_count=5)
    user.last_failed_login_time.FromMicroseconds(NOW - 61 * MICROS)
    assert policy.failures(user, NOW) == 0
    user.last_failed_login_time.FromMicroseconds(NOW - 59 * MICROS)
    assert policy.failures(user, NOW) == 5


def record(current: User, ok: bool, policy: LoginPolicy, now: int = NOW) -> User:
    return RecordLogin(factories.admin(), "usr_x", ok, policy=policy).execute(current, now).user


def test_record_login_counts_failures_locks_out_and_resets_on_success() -> None:
    policy = LoginPolicy(failure_factor=2, wait_increment_s=30)
    user = record(User(state=User.ACTIVE), False, policy)
    assert (user.failed_login_count, user.HasField("lockout_end_time")) == (1, False)
    user = record(user, False, policy)
    assert user.failed_login_count == 2 and user.lockout_end_time.ToMicroseconds() == NOW + 30 * MICROS
    with pytest.raises(PermissionDenied) as locked:
        record(user, True, policy, NOW + MICROS)  # the right password, during the lockout
    assert locked.value.reason == "TOO_MANY_FAILED_LOGINS"
    later = record(user, True, policy, NOW + 31 * MICROS)
    assert (later.failed_login_count, later.HasField("lockout_end_time")) == (0, False)


def test_a_locked_user_is_refused_whatever_the_outcome() -> None:
    for ok in (True, False):
        with pytest.raises(PermissionDenied) as locked:
            record(User(state=User.LOCKED), ok, LoginPolicy())
        assert locked.value.reason == "USER_LOCKED"
    assert refusal(User(state=User.ACTIVE), NOW) is None


def test_a_flooding_tenant_keeps_to_its_share_and_others_are_served_in_turn() -> None:
    async def run() -> None:
        hasher = Hasher(make_context(memory_kib=1024, rounds=1), workers=1, max_queue=8, tenant_queue=4)
        try:
            flood = [asyncio.ensure_future(hasher.hash("Flood-pass-123", tenant=2)) for _ in range(50)]
            await asyncio.sleep(0)
            mine = await asyncio.gather(*(hasher.hash("Mine-pass-123", tenant=1) for _ in range(3)))
            assert len(mine) == 3
            results = await asyncio.gather(*flood, return_exceptions=True)
            refused = [r for r in results if isinstance(r, ResourceExhausted)]
            assert len(refused) == 46 and all(r.reason == "PASSWORD_POOL_FULL" for r in refused)
        finally:
            hasher.close()

    asyncio.run(run())


def test_a_locked_user_is_answered_without_computing_a_hash(tmp_path: Path) -> None:
    """With a hash of about 0.1 s or more, a locked user's answer comes well before one could be computed."""

    async def run() -> tuple[float, float]:
        store = Store(f"sqlite:///{tmp_path}/users.db")
        key_id, key, secret_hash = new_key()
        store.keys.create_key("acme", "admin", None, secret_hash, key_id)
        hasher = Hasher(make_context(memory_kib=65536, rounds=3))
        running = await create_server(store, hasher)
        md = (("authorization", f"Bearer {key}"),)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
                stub = user_service_pb2_grpc.UserServiceStub(channel)
                me = await stub.CreateUser(api.CreateUserRequest(
                    user=User(username="locked.one", password="Locked-pass-123")), metadata=md)
                login = api.VerifyPasswordRequest(username="locked.one", password="Wrong-guess-123")
                start = time.monotonic()
                with pytest.raises(grpc.aio.AioRpcError):
                    await stub.VerifyPassword(login, metadata=md)
                hashed = time.monotonic() - start
                await stub.UpdateUser(api.UpdateUserRequest(user=User(id=me.id, state=User.LOCKED),
                                                            update_mask=field_mask_pb2.FieldMask(paths=["state"])),
                                      metadata=md)
                start = time.monotonic()
                with pytest.raises(grpc.aio.AioRpcError) as locked:
                    await stub.VerifyPassword(login, metadata=md)
                assert locked.value.code() == grpc.StatusCode.PERMISSION_DENIED
                return hashed, time.monotonic() - start
        finally:
            await running.server.stop(0)
            hasher.close()
            store.close()

    hashed, answered = asyncio.run(run())
    assert hashed > 0.08 and answered < hashed / 3, (hashed, answered)
