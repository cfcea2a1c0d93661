"""Password hashing: argon2id through passlib (libpass), in a small bounded thread pool.

argon2-cffi releases the GIL while hashing, so a pool of one or two threads keeps the event loop
(and every other call) flowing while hashes are computed. The pool's queue is bounded: past it,
callers get RESOURCE_EXHAUSTED instead of an ever-growing wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from passlib.context import CryptContext

from service import metrics
from service.errors import ResourceExhausted

T = TypeVar("T")
#: OWASP's minimum for argon2id: m=19 MiB, t=2, p=1.
OWASP_MEMORY_KIB, OWASP_TIME, OWASP_PARALLELISM = 19456, 2, 1


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    #: A new hash when the stored one was made with weaker parameters (``needs_update``).
    rehash: str | None = None


def make_context(memory_kib: int = OWASP_MEMORY_KIB, rounds: int = OWASP_TIME,
                 parallelism: int = OWASP_PARALLELISM) -> CryptContext:
    return CryptContext(
        schemes=["argon2"],
        deprecated="auto",
        argon2__type="ID",
        argon2__memory_cost=memory_kib,
        argon2__rounds=rounds,
        argon2__parallelism=parallelism,
    )


class Hasher:
    """Hashes and verifies passwords off the event loop, at most ``workers`` at a time."""

    def __init__(self, context: CryptContext | None = None, *, workers: int = 1, max_queue: int = 64) -> None:
        self.context = context or make_context()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._max_queue = max_queue
        self._waiting = 0
        # Verified against when the user does not exist, so both answers take the same time.
        self._dummy = self.context.hash("not a password of anyone: timing equaliser")

    def hash_sync(self, password: str) -> str:
        return str(self.context.hash(password))

    def verify_sync(self, password: str, stored: str | None) -> Verdict:
        if not stored:
            self.context.verify(password, self._dummy)
            return Verdict(False)
        ok, new_hash = self.context.verify_and_update(password, stored)
        return Verdict(bool(ok), new_hash)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        if self._waiting >= self._max_queue:
            metrics.hash_rejected()
            raise ResourceExhausted("too many password operations in flight; retry shortly",
                                    reason="PASSWORD_POOL_FULL")
        self._waiting += 1
        metrics.hash_queue(self._waiting)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._waiting -= 1
            metrics.hash_queue(self._waiting)

    async def hash(self, password: str) -> str:
        return await self._run(self.hash_sync, password)

    async def verify(self, password: str, stored: str | None) -> Verdict:
        return await self._run(self.verify_sync, password, stored)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
