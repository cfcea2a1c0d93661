"""The one interceptor of UserService calls: authenticate, run, map errors, log.

It wraps each handler (so per-call state is set in the task that runs the servicer), decodes
the request itself (a malformed protobuf is INVALID_ARGUMENT, not INTERNAL), turns every
``ServiceError`` into a rich status, and hides every other exception behind INTERNAL.
Health and reflection pass through untouched and open.
It also sets the call's deadline (``service.context.DEADLINE``), so that work handed elsewhere
(SQLite's writer process) can tell when the caller stopped waiting, and the metadata it read
(``service.context.METADATA``: grpc.aio builds a new tuple at every ``invocation_metadata()``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import grpc
from google.protobuf.message import DecodeError

from service import logs
from service.auth import Authenticator
from service.context import DEADLINE, METADATA, PRINCIPAL
from service.errors import InvalidArgument, ServiceError, Violation, internal_status, to_grpc_status

log = logging.getLogger("userservice.access")
PROTECTED_PREFIX = "/userservice."


Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


class CallInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, auth: Authenticator, open_methods: frozenset[str] = frozenset(),
                 access_log: Callable[[str, str, float, str | None], None] = logs.access) -> None:
        self.auth = auth
        self.open_methods = open_methods
        self.access_log = access_log
        self._wrapped: dict[str, Handler] = {}  # one wrapped handler per method, built on its first call

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        method: str = details.method
        cached = self._wrapped.get(method)
        if cached is not None:
            return cached
        handler = await continuation(details)
        if handler is None or not method.startswith(PROTECTED_PREFIX) or handler.unary_unary is None:
            return handler
        behavior: Any = handler.unary_unary
        decode: Any = handler.request_deserializer
        name = method.rsplit("/", 1)[-1]
        authenticate = method not in self.open_methods

        async def wrapped(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            key_id = None
            try:
                who = None
                metadata = context.invocation_metadata() or ()
                METADATA.set(metadata)
                if authenticate:
                    who = self.auth.authenticate(metadata)
                    key_id = who.key_id
                remaining = context.time_remaining()
                if remaining is not None:
                    DEADLINE.set(time.monotonic() + remaining)
                try:
                    request = decode(raw)
                except (DecodeError, ValueError):
                    raise InvalidArgument([Violation("request", "not a valid protobuf message")]) from None
                if who is not None:
                    PRINCIPAL.set(who)
                return await behavior(request, context)
            except ServiceError as err:
                code = err.code
                status = to_grpc_status(err)
                await context.abort(status.code, status.details, status.trailing_metadata)
            except grpc.aio.AbortError:
                code = context.code() or code
                raise
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("unexpected error", extra={"method": name})
                status = internal_status()
                await context.abort(status.code, status.details, status.trailing_metadata)
            finally:
                self.access_log(name, code.name, (time.perf_counter() - start) * 1000, key_id)

        wrapped_any: Any = wrapped
        result: Handler = grpc.unary_unary_rpc_method_handler(
            wrapped_any, request_deserializer=None, response_serializer=handler.response_serializer)
        self._wrapped[method] = result
        return result
