"""Per-call state set by the call interceptor and read by servicers: who is calling."""

from __future__ import annotations

import contextvars

from service.auth import Principal

PRINCIPAL: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal")


def principal() -> Principal:
    return PRINCIPAL.get()
