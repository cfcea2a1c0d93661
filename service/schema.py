"""What the proto says about each field of ``User``: behaviours and who may write it.

Read once from the descriptor (``google.api.field_behavior`` and ``userservice.v1.field_access``),
so the rules live in ``proto/`` and nowhere else.
"""

from __future__ import annotations

from typing import Any

from google.api import field_behavior_pb2
from google.protobuf.descriptor import FieldDescriptor
from userservice.v1 import field_access_pb2, user_pb2

USER: Any = user_pb2.User.DESCRIPTOR
ADDRESS: Any = user_pb2.Address.DESCRIPTOR


def _behaviors(field: FieldDescriptor) -> frozenset[int]:
    options: Any = field.GetOptions()
    return frozenset(options.Extensions[field_behavior_pb2.field_behavior])


def _access(field: FieldDescriptor) -> int:
    options: Any = field.GetOptions()
    return int(options.Extensions[field_access_pb2.field_access])


def _names(behavior: int) -> frozenset[str]:
    return frozenset(f.name for f in USER.fields if behavior in _behaviors(f))


OUTPUT_ONLY: frozenset[str] = _names(field_behavior_pb2.OUTPUT_ONLY)
IMMUTABLE: frozenset[str] = _names(field_behavior_pb2.IMMUTABLE)
#: Fields a ``user`` key may write on its own user; every other mutable field is admin only (a field
#: marked FIELD_ACCESS_ADMIN_ONLY, or with no ``field_access`` option at all).
SELF_SERVICE: frozenset[str] = frozenset(
    f.name for f in USER.fields if _access(f) == field_access_pb2.FIELD_ACCESS_SELF_SERVICE
)
#: Fields an update can write: neither output only nor the concurrency token.
MUTABLE: frozenset[str] = frozenset(f.name for f in USER.fields) - OUTPUT_ONLY - {"etag"}
#: Fields whose value in an update never changes anything: ignored in masks (AIP-134).
IGNORED_IN_MASK: frozenset[str] = OUTPUT_ONLY | {"etag"}

#: camelCase JSON name -> proto field name, for masks written in either form.
JSON_NAMES: dict[str, str] = {f.json_name: f.name for f in USER.fields}
ADDRESS_JSON_NAMES: dict[str, str] = {f.json_name: f.name for f in ADDRESS.fields}
