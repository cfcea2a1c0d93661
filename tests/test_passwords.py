"""Password hashing stays in its bounded pool, fair between tenants: other calls keep flowing while hashes are
computed, and one tenant's flood does not starve another's logins."""

from __future__ import annotations

import asyncio
import threading

import grpc
from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2, user_service_pb2_grpc
from userservice.v1 import user_service_pb2 as api

from service.passwords import Hasher
from tests.support import Service, unique


def test_reads_are_not_queued_behind_password_hashes(service: Service, admin_key: str) -> None:
    users = [service.create(admin_key) for _ in range(12)]
    done: list[str] = []
    lock = threading.Lock()

    def set_password(u: user_pb2.User) -> None:
        service.call("UpdateUser", api.UpdateUserRequest(
            user=user_pb2.User(id=u.id, password="Pool-test-pass-1"),
            update_mask=field_mask_pb2.FieldMask(paths=["password"])), admin_key, timeout=60)
        with lock:
            done.append("hash")

    writers = [threading.Thread(target=set_password, args=(u,)) for u in users]
    for t in writers:
        t.start()
    for _ in range(20):  # 12 hashes of ~40 ms queue on one thread; 20 reads must not wait for them all
        service.get_user(admin_key, users[0].id)
        with lock:
            done.append("read")
    for t in writers:
        t.join(60)
    assert done.count("hash") == 12
    last_hash = max(i for i, what in enumerate(done) if what == "hash")
    reads_before_last_hash = sum(1 for what in done[:last_hash] if what == "read")
    assert reads_before_last_hash == 20, done


def test_hasher_uses_argon2id_at_owasp_minimum_and_verifies() -> None:
    hasher = Hasher()
    try:
        stored = hasher.hash_sync("Some-password-1")
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert hasher.verify_sync("Some-password-1", stored).ok
        assert not hasher.verify_sync("Other-password-1", stored).ok
        assert not hasher.verify_sync("Some-password-1", None).ok
    finally:
        hasher.close()


def test_one_tenant_flooding_the_hash_pool_does_not_starve_another(service: Service, admin_key: str) -> None:
    """100 concurrent hashing calls of tenant B, over and over; tenant A's 10 logins still get through."""
    me = service.create(admin_key, password="Fair-queue-pass-1")
    flooder = service.key("admin", tenant=unique("flood"))
    seen: dict[str, int] = {}

    async def run() -> list[grpc.StatusCode]:
        async with grpc.aio.insecure_channel(f"{service.host}:{service.grpc_port}") as channel:
            stub = user_service_pb2_grpc.UserServiceStub(channel)
            done = asyncio.Event()

            async def flood() -> None:  # unknown users: each call hashes (the dummy), nothing is counted
                for _ in range(200):
                    if done.is_set():
                        return
                    try:
                        await stub.VerifyPassword(api.VerifyPasswordRequest(username=unique(), password="x" * 12),
                                                  metadata=(("authorization", f"Bearer {flooder}"),), timeout=20)
                    except grpc.aio.AioRpcError as err:
                        seen[err.code().name] = seen.get(err.code().name, 0) + 1
                        if err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                            await asyncio.sleep(0.01)

            async def logins() -> list[grpc.StatusCode]:
                await asyncio.sleep(0.5)  # the flood is on
                codes = []
                for _ in range(10):
                    try:
                        await stub.VerifyPassword(
                            api.VerifyPasswordRequest(username=me.username, password="Fair-queue-pass-1"),
                            metadata=(("authorization", f"Bearer {admin_key}"),), timeout=20)
                        codes.append(grpc.StatusCode.OK)
                    except grpc.aio.AioRpcError as err:
                        codes.append(err.code())
                done.set()
                return codes

            flooding = [asyncio.create_task(flood()) for _ in range(100)]
            codes = await asyncio.wait_for(logins(), 60)
            await asyncio.wait_for(asyncio.gather(*flooding), 60)
            return codes

    codes = asyncio.run(run())
    assert seen.get("RESOURCE_EXHAUSTED", 0) > 0, f"the flood never filled its share: {seen}"
    assert codes == [grpc.StatusCode.OK] * 10, codes
