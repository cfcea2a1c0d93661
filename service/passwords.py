"""Passwords: the rule of new ones, and argon2id through passlib (libpass) in a small pool fair between tenants.

New passwords (``Hasher.check_new``): ``min_length`` (8 unless ``--password-min-length`` raises it) to
128 characters, not containing the username, and not one of the 30,000 most common passwords
(``service.users.validation``; the list ships inside the ``zxcvbn`` package, nothing is fetched).

argon2-cffi releases the GIL while hashing, so a pool of one or two threads keeps the event loop (and
every other call) flowing while hashes are computed. Jobs wait in one queue per tenant, and the pool
takes them round-robin between tenants: a tenant that floods the pool waits behind its own jobs, and
another tenant's login waits for at most one job of each busy tenant. Each tenant may hold at most
``tenant_queue`` jobs (running or waiting), all tenants together ``max_queue``, except that a tenant
holding fewer than ``GUARANTEED`` is always let in; past that, callers get RESOURCE_EXHAUSTED
(``PASSWORD_POOL_FULL``) instead of an ever-growing wait. ``concurrent.futures`` and asyncio have no
queue that is fair between keys, so this module schedules the pool's jobs itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from passlib.context import CryptContext
from passlib.utils import MAX_PASSWORD_SIZE

from service import metrics
from service.errors import ResourceExhausted, Violation
from service.users.validation import MIN_PASSWORD, common_passwords, validate_password

T = TypeVar("T")
#: OWASP's minimum for argon2id: m=19 MiB, t=2, p=1.
OWASP_MEMORY_KIB, OWASP_TIME, OWASP_PARALLELISM = 19456, 2, 1
#: The longest password passlib hashes or verifies (bytes of UTF-8): longer ones are refused before it.
MAX_PASSWORD_BYTES: int = MAX_PASSWORD_SIZE
#: Jobs a tenant may always hold, even when the pool's whole queue is full.
GUARANTEED = 4


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    #: A new hash when the stored one was made with weaker parameters (``needs_update``).
    rehash: str | None = None


@dataclass(slots=True)
class _Job:
    tenant: int
    run: Callable[[], Any]
    future: asyncio.Future[Any]


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


def too_long(password: str) -> bool:
    """Whether passlib would refuse to hash or verify ``password`` (over ``MAX_PASSWORD_BYTES``)."""
    return len(password.encode()) > MAX_PASSWORD_BYTES


class Hasher:
    """Hashes and verifies passwords off the event loop, ``workers`` at a time, fairly between tenants."""

    def __init__(self, context: CryptContext | None = None, *, workers: int = 1, max_queue: int = 64,
                 tenant_queue: int = 16, min_length: int = MIN_PASSWORD) -> None:
        self.context = context or make_context()
        self.min_length = min_length
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._workers, self._max_queue, self._tenant_queue = workers, max_queue, tenant_queue
        self._busy = 0  # jobs running in the pool
        self._total = 0  # jobs running or waiting
        self._held: dict[int, int] = {}  # per tenant: jobs running or waiting
        self._waiting: dict[int, deque[_Job]] = {}  # per tenant, in round-robin order
        common_passwords()  # loaded now, not in the first call that sets a password
        # Verified against when the user does not exist, so both answers take the same time.
        self._dummy = self.context.hash("not a password of anyone: timing equaliser")

    def check_new(self, password: str, username: str) -> list[Violation]:
        """The violations of a new password (field ``password``) for the user ``username``."""
        return validate_password(password, username, min_length=self.min_length)

    def hash_sync(self, password: str) -> str:
        return str(self.context.hash(password))

    def verify_sync(self, password: str, stored: str | None) -> Verdict:
        if not stored:
            self.context.verify(password, self._dummy)
            return Verdict(False)
        ok, new_hash = self.context.verify_and_update(password, stored)
        return Verdict(bool(ok), new_hash)

    # ---- the fair queue -----------------------------------------------------------------------
    async def _run(self, tenant: int, fn: Callable[..., T], *args: object) -> T:
        held = self._held.get(tenant, 0)
        if held >= self._tenant_queue or (self._total >= self._max_queue and held >= GUARANTEED):
            metrics.hash_rejected()
            raise ResourceExhausted("too many password operations in flight; retry shortly",
                                    reason="PASSWORD_POOL_FULL")
        job = _Job(tenant, lambda: fn(*args), asyncio.get_running_loop().create_future())
        self._held[tenant] = held + 1
        self._total += 1
        metrics.hash_queue(self._total)
        self._waiting.setdefault(tenant, deque()).append(job)
        self._dispatch()
        result: T = await job.future  # a caller cancelled while waiting cancels the job: it never runs
        return result

    def _dispatch(self) -> None:
        """Start waiting jobs while a worker is free, taking the tenants in turn."""
        while self._busy < self._workers and self._waiting:
            tenant = next(iter(self._waiting))
            queue = self._waiting.pop(tenant)
            job = queue.popleft()
            if queue:
                self._waiting[tenant] = queue  # to the back of the round
            if job.future.cancelled():
                self._release(job)
                continue
            self._busy += 1
            self._pool.submit(job.run).add_done_callback(self._on_done(job))

    def _on_done(self, job: _Job) -> Callable[[Future[Any]], None]:
        """The pool thread's callback: hand the outcome back to the event loop."""
        def done(outcome: Future[Any]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed first (the server stopped)
                job.future.get_loop().call_soon_threadsafe(self._finished, job, outcome)
        return done

    def _finished(self, job: _Job, done: Future[Any]) -> None:
        self._busy -= 1
        self._release(job)
        if not job.future.done():
            if done.cancelled():
                job.future.cancel()
            elif done.exception() is not None:
                job.future.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                job.future.set_result(done.result())
        self._dispatch()

    def _release(self, job: _Job) -> None:
        held = self._held[job.tenant] - 1
        if held:
            self._held[job.tenant] = held
        else:
            del self._held[job.tenant]
        self._total -= 1
        metrics.hash_queue(self._total)

    # ---- what callers use ---------------------------------------------------------------------
    async def hash(self, password: str, *, tenant: int) -> str:
        return await self._run(tenant, self.hash_sync, password)

    async def verify(self, password: str, stored: str | None, *, tenant: int) -> Verdict:
        return await self._run(tenant, self.verify_sync, password, stored)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
