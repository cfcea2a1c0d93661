from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PmUpdateUserRequest(_message.Message):
    __slots__ = ("user_id", "user_name", "password", "first_name", "last_name", "company", "email", "phone", "mobile", "address", "status", "sso", "sso_id", "default_role_template_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    COMPANY_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    MOBILE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SSO_FIELD_NUMBER: _ClassVar[int]
    SSO_ID_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ROLE_TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    user_name: str
    password: str
    first_name: str
    last_name: str
    company: str
    email: str
    phone: str
    mobile: str
    address: _struct_pb2.Struct
    status: str
    sso: bool
    sso_id: str
    default_role_template_id: str
    def __init__(self, user_id: _Optional[str] = ..., user_name: _Optional[str] = ..., password: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., company: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., mobile: _Optional[str] = ..., address: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., status: _Optional[str] = ..., sso: _Optional[bool] = ..., sso_id: _Optional[str] = ..., default_role_template_id: _Optional[str] = ...) -> None: ...

class PmUser(_message.Message):
    __slots__ = ("id", "user_name", "first_name", "last_name", "company", "email", "phone", "mobile", "address", "status", "sso", "sso_id", "default_role_template_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    COMPANY_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    MOBILE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SSO_FIELD_NUMBER: _ClassVar[int]
    SSO_ID_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ROLE_TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    user_name: str
    first_name: str
    last_name: str
    company: str
    email: str
    phone: str
    mobile: str
    address: _struct_pb2.Struct
    status: str
    sso: bool
    sso_id: str
    default_role_template_id: str
    def __init__(self, id: _Optional[str] = ..., user_name: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., company: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., mobile: _Optional[str] = ..., address: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., status: _Optional[str] = ..., sso: _Optional[bool] = ..., sso_id: _Optional[str] = ..., default_role_template_id: _Optional[str] = ...) -> None: ...
