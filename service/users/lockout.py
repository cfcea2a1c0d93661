"""Password guessing: a tenant's lockout policy and the rules that count failed logins (no I/O).

The policy is Keycloak's brute-force detection (failure factor, wait increment, max wait, failure reset
time) plus a tarpit: after ``delay_after`` consecutive failures each further attempt waits a growing
delay before its password is checked. The counting runs in ``commands.RecordLogin``, a write command, on
the user's locked row: ``failed_login_count`` and ``lockout_end_time`` are output-only fields of the user,
so every replica (and SQLite's writer process) sees the same count. docs/api.md, "Password guessing",
says what a caller sees.

A lockout starts at the ``failure_factor``-th consecutive failure and at every further multiple of it;
it lasts ``wait_increment_s`` times the number of lockouts so far, at most ``max_wait_s``, and ends by
itself. A success resets the count; so does ``failure_reset_s`` without a failure. NIST SP 800-63B
(5.2.2) allows at most 100 consecutive failures before a lockout: ``failure_factor`` is at most 100.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from google.protobuf import timestamp_pb2
from userservice.v1 import user_pb2

from service.errors import PermissionDenied, ServiceError

User = user_pb2.User
MICROS = 1_000_000
#: NIST SP 800-63B 5.2.2: no more than 100 consecutive failed attempts on one account.
MAX_FAILURE_FACTOR = 100


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """One tenant's settings (``userservice tenants set-policy``); the defaults are on for every tenant."""

    #: Consecutive failures that start a lockout (and every multiple of it another, longer one).
    failure_factor: int = 10
    #: A lockout lasts this many seconds times the number of lockouts in the current run of failures...
    wait_increment_s: int = 60
    #: ...and at most this many seconds.
    max_wait_s: int = 900
    #: The count of failures restarts after this many seconds without a failure.
    failure_reset_s: int = 12 * 3600
    #: Failures before the tarpit starts: the next attempt waits ``delay_increment_ms``, the one after
    #: twice that, and so on...
    delay_after: int = 3
    delay_increment_ms: int = 500
    #: ...at most this long.
    max_delay_ms: int = 5000

    #: Each setting's allowed range (inclusive).
    LIMITS: ClassVar[dict[str, tuple[int, int]]] = {
        "failure_factor": (1, MAX_FAILURE_FACTOR), "wait_increment_s": (1, 86400), "max_wait_s": (1, 7 * 86400),
        "failure_reset_s": (1, 30 * 86400), "delay_after": (0, 100), "delay_increment_ms": (0, 10_000),
        "max_delay_ms": (0, 10_000)}

    def problems(self) -> list[str]:
        """What is wrong with these settings (empty when they are usable)."""
        out = [f"{name} must be {low}-{high}" for name, (low, high) in self.LIMITS.items()
               if not low <= getattr(self, name) <= high]
        if self.max_wait_s < self.wait_increment_s:
            out.append("max_wait_s must be at least wait_increment_s")
        return out

    def failures(self, user: User, now: int) -> int:
        """The consecutive failures that count now (none once ``failure_reset_s`` passed without one)."""
        last = user.last_failed_login_time.ToMicroseconds() if user.HasField("last_failed_login_time") else 0
        return user.failed_login_count if now - last <= self.failure_reset_s * MICROS else 0

    def delay(self, failures: int) -> float:
        """Seconds an attempt waits before its password is checked, after ``failures`` failures."""
        over = failures - self.delay_after + 1
        return min(over * self.delay_increment_ms, self.max_delay_ms) / 1000 if over > 0 else 0.0

    def lockout(self, failures: int) -> int:
        """Microseconds of lockout that the ``failures``-th consecutive failure starts (0: none)."""
        if failures < self.failure_factor or failures % self.failure_factor:
            return 0
        return min(self.wait_increment_s * (failures // self.failure_factor), self.max_wait_s) * MICROS


def policy_of(values: dict[str, int | None]) -> LoginPolicy:
    """A policy from stored settings, where ``None`` means the default."""
    return dataclasses.replace(LoginPolicy(), **{k: v for k, v in values.items() if v is not None})


def refusal(user: User, now: int) -> ServiceError | None:
    """Why VerifyPassword refuses ``user`` whatever the password (none: check it). One answer each,
    decided before any hash is computed: the answer never depends on the password."""
    if user.state == User.LOCKED:
        return PermissionDenied("the user is locked", reason="USER_LOCKED")
    end = user.lockout_end_time.ToMicroseconds() if user.HasField("lockout_end_time") else 0
    if end > now:
        stamp = timestamp_pb2.Timestamp()
        stamp.FromMicroseconds(end)
        return PermissionDenied("too many failed logins: the user is locked out for a while",
                                reason="TOO_MANY_FAILED_LOGINS",
                                metadata={"lockout_end_time": stamp.ToJsonString(),
                                          "retry_after_s": str(-(-(end - now) // MICROS))})
    return None
