"""Every failure as a SCIM Error (``urn:ietf:params:scim:api:messages:2.0:Error``, RFC 7644 section 3.12).

scim2-models' own exceptions and validation errors carry their status and ``scimType`` already.
The service's errors are mapped here: a taken ``userName``/``externalId``/e-mail is 409
``uniqueness``; a stale ``If-Match`` 412; a bad field 400 ``invalidValue`` naming the SCIM attribute;
a deleted user 404 (SCIM does not see soft-deleted users); keys 401/403.
"""

from __future__ import annotations

from pydantic import ValidationError
from scim2_models import Error, SCIMException

from service.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    ServiceError,
    Unauthenticated,
    Unavailable,
)
from service.scim.mapping import scim_name

#: ``reason`` values a SCIM module sets on an InvalidArgument to choose its scimType.
SCIM_TYPES = frozenset({"invalidFilter", "invalidPath", "invalidValue", "invalidSyntax", "mutability",
                        "noTarget", "tooMany", "uniqueness", "invalidVers", "sensitive"})


def from_service(err: ServiceError) -> Error:
    if isinstance(err, InvalidArgument):
        detail = "; ".join(f"{scim_name(v.field)}: {v.description}" for v in err.violations) or err.message
        scim_type = err.reason if err.reason in SCIM_TYPES else "invalidValue"
        return Error(status=400, scim_type=scim_type, detail=detail)
    if isinstance(err, AlreadyExists):
        field = {"USERNAME_TAKEN": "userName", "EXTERNAL_ID_TAKEN": "externalId",
                 "EMAIL_TAKEN": "emails"}.get(err.reason or "", "")
        return Error(status=409, scim_type="uniqueness", detail=f"{field} is already taken" if field else err.message)
    if isinstance(err, Aborted):
        return Error(status=412, detail="the user changed since this version was read (If-Match); read it again")
    if isinstance(err, NotFound) or (isinstance(err, FailedPrecondition) and err.reason == "USER_DELETED"):
        return Error(status=404, detail="no such user")
    if isinstance(err, Unauthenticated):
        return Error(status=401, detail=err.message)
    if isinstance(err, PermissionDenied):
        return Error(status=403, detail=err.message)
    if isinstance(err, ResourceExhausted):
        return Error(status=429, detail=err.message)
    if isinstance(err, Unavailable):
        return Error(status=503, detail=err.message)
    if isinstance(err, FailedPrecondition):
        return Error(status=400, scim_type="invalidValue", detail=err.message)
    return Error(status=500, detail="internal error")


def from_scim(exc: SCIMException) -> Error:
    return exc.to_error()


def from_validation(exc: ValidationError) -> Error:
    """The first error pydantic found, as scim2-models maps it (``invalidValue``, ``invalidSyntax``...)."""
    errors = Error.from_validation_errors(exc)
    first = errors[0] if errors else Error(status=400, scim_type="invalidValue", detail=str(exc))
    if len(errors) > 1:
        first.detail = "; ".join(e.detail or "" for e in errors)
    return first
