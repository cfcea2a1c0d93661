"""The service's one exception hierarchy, and the one place that maps it to gRPC statuses.

Domain code raises these; ``to_grpc_status`` turns them into a ``grpc.Status`` whose trailing
metadata carries a ``google.rpc.Status`` with ``BadRequest`` and ``ErrorInfo`` details.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "userservice"


@dataclass(frozen=True, slots=True)
class Violation:
    """One bad field: its path (as in an update mask, e.g. ``address.locality``) and why."""

    field: str
    description: str


class ServiceError(Exception):
    """Base of every error the service reports to a caller."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    default_reason: str | None = None

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        violations: Iterable[Violation] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.violations = list(violations)
        self.metadata = dict(metadata or {})

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Errors cross to and from SQLite's writer process whole (subclasses take other arguments)."""
        return _rebuild, (type(self), self.message, self.reason, self.violations, self.metadata)


def _rebuild(cls: type[ServiceError], message: str, reason: str | None, violations: list[Violation],
             metadata: dict[str, str]) -> ServiceError:
    err = cls.__new__(cls)
    ServiceError.__init__(err, message, violations=violations, metadata=metadata)
    err.reason = reason
    return err


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: Iterable[Violation], message: str | None = None, **kw: object) -> None:
        vs = list(violations)
        text = message or "invalid request: " + "; ".join(f"{v.field}: {v.description}" for v in vs)
        super().__init__(text, violations=vs, **kw)  # type: ignore[arg-type]


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unauthenticated(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "USER_NOT_FOUND"


class AlreadyExists(ServiceError):
    code = grpc.StatusCode.ALREADY_EXISTS


class Aborted(ServiceError):
    code = grpc.StatusCode.ABORTED
    default_reason = "ETAG_MISMATCH"


class ResourceExhausted(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(ServiceError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_reason = "DEADLINE_EXCEEDED"


class Internal(ServiceError):
    code = grpc.StatusCode.INTERNAL


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_rpc_status(err: ServiceError) -> status_pb2.Status:
    """The ``google.rpc.Status`` for an error, with its machine-readable details."""
    status = status_pb2.Status(code=err.code.value[0], message=err.message)
    if err.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in err.violations
            ]
        )
        status.details.append(_pack(bad))
    if err.reason:
        info = error_details_pb2.ErrorInfo(reason=err.reason, domain=DOMAIN, metadata=err.metadata)
        status.details.append(_pack(info))
    return status


def to_grpc_status(err: ServiceError) -> grpc.Status:
    """The ``grpc.Status`` to abort a call with (details in ``grpc-status-details-bin``)."""
    status: grpc.Status = rpc_status.to_status(to_rpc_status(err))
    return status


def internal_status() -> grpc.Status:
    """What a caller sees of an unexpected exception: no internals, no stack trace."""
    status: grpc.Status = rpc_status.to_status(status_pb2.Status(code=code_pb2.INTERNAL, message="internal error"))
    return status
