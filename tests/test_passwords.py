"""Password hashing stays in its bounded pool: other calls keep flowing while hashes are computed."""

from __future__ import annotations

import threading

from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2
from userservice.v1 import user_service_pb2 as api

from service.passwords import Hasher
from tests.support import Service


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
