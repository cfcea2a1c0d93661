"""Per-call state set by the call interceptor and read by servicers: who is calling, and until when."""

from __future__ import annotations

import contextvars
from typing import Any

from service.auth import Principal

PRINCIPAL: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal")
#: The call's deadline on ``time.monotonic()``'s clock (one clock for every process of the machine), if any.
DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)
#: The call's metadata as the interceptor read it (grpc.aio builds a new tuple at every read).
METADATA: contextvars.ContextVar[Any] = contextvars.ContextVar("metadata", default=None)


def principal() -> Principal:
    return PRINCIPAL.get()


def call_metadata(context: Any) -> Any:
    """The call's metadata: as the interceptor read it for this call (``METADATA``), else from ``context``
    (a servicer run without the interceptor)."""
    return METADATA.get() or context.invocation_metadata() or ()
