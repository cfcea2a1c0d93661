"""One place that builds test inputs: users, update requests, callers, and users stored directly.

Values come from the field table (``service.users.fields``): ``example(name)`` is a valid value of
any field, so tests that walk every field need no list of their own.
"""

from __future__ import annotations

import itertools
from typing import Any

from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2, user_service_pb2

from service.auth import Principal
from service.storage import Store
from service.users import fields
from service.users.commands import Create
from service.users.fields import Kind

User = user_pb2.User
_serial = itertools.count(1)


def name(prefix: str = "user") -> str:
    return f"{prefix}{next(_serial)}x{id(_serial) % 9973}"


def user(**values: Any) -> User:
    """A valid user to create: a fresh username and e-mail unless given, and ``values``."""
    username = values.pop("username", name())
    out = User(username=username)
    if "email" not in values:
        out.email = f"{username}@example.com"
    for key, value in values.items():
        set_value(out, key, value)
    return out


def set_value(target: User, field_name: str, value: Any) -> None:
    """Set any field of a ``User``, whatever its kind."""
    kind = fields.field(field_name).kind
    if kind is Kind.MESSAGE:
        getattr(target, field_name).CopyFrom(type(getattr(target, field_name))(**value))
    elif kind is Kind.MAP:
        getattr(target, field_name).update(value)
    elif kind is Kind.LIST:
        del getattr(target, field_name)[:]
        getattr(target, field_name).extend(value)
    else:
        setattr(target, field_name, value)


def example(field_name: str) -> Any:
    """A valid value of the field, different from its cleared value."""
    return fields.field(field_name).example


def update(user_id: str, mask: list[str] | None = None, *, etag: str = "", request_id: str = "",
           validate_only: bool = False, **values: Any) -> user_service_pb2.UpdateUserRequest:
    """An UpdateUserRequest; ``mask`` None: no mask (the populated fields are the mask)."""
    target = User(id=user_id, etag=etag)
    for key, value in values.items():
        set_value(target, key, value)
    request = user_service_pb2.UpdateUserRequest(user=target, request_id=request_id, validate_only=validate_only)
    if mask is not None:
        request.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=mask))
    return request


def admin(tenant_id: int = 1, key_id: str = "test-setup") -> Principal:
    return Principal(key_id=key_id, tenant_id=tenant_id, tenant=f"tenant{tenant_id}", role="admin", user_id=None)


def stored_user(store: Store, tenant_id: int = 1, *, password_hash: str | None = None, **values: Any) -> User:
    """A user written straight into ``store`` (setup; it skips the service's validation)."""
    prepared = user(**values)
    fields.as_stored(prepared)
    return store.users.create(Create(admin(tenant_id), prepared, password_hash=password_hash))
