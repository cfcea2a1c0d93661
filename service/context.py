"""Per-call state set by the call interceptor and read by servicers: who is calling, and until when."""

from __future__ import annotations

import contextvars

from service.auth import Principal

PRINCIPAL: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal")
#: The call's deadline on ``time.monotonic()``'s clock (one clock for every process of the machine), if any.
DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


def principal() -> Principal:
    return PRINCIPAL.get()
