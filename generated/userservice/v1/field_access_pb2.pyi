from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class FieldAccess(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FIELD_ACCESS_UNSPECIFIED: _ClassVar[FieldAccess]
    FIELD_ACCESS_SELF_SERVICE: _ClassVar[FieldAccess]
    FIELD_ACCESS_ADMIN_ONLY: _ClassVar[FieldAccess]
FIELD_ACCESS_UNSPECIFIED: FieldAccess
FIELD_ACCESS_SELF_SERVICE: FieldAccess
FIELD_ACCESS_ADMIN_ONLY: FieldAccess
FIELD_ACCESS_FIELD_NUMBER: _ClassVar[int]
field_access: _descriptor.FieldDescriptor
