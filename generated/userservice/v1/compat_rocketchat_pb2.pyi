from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RocketChatGetUserInfoRequest(_message.Message):
    __slots__ = ("user_id", "username")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    username: str
    def __init__(self, user_id: _Optional[str] = ..., username: _Optional[str] = ...) -> None: ...

class RocketChatUpdateUserRequest(_message.Message):
    __slots__ = ("user_id", "data")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    data: RocketChatUserData
    def __init__(self, user_id: _Optional[str] = ..., data: _Optional[_Union[RocketChatUserData, _Mapping]] = ...) -> None: ...

class RocketChatUserData(_message.Message):
    __slots__ = ("email", "name", "password", "username", "active", "roles", "join_default_channels", "require_password_change", "send_welcome_email", "verified", "custom_fields")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    JOIN_DEFAULT_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_PASSWORD_CHANGE_FIELD_NUMBER: _ClassVar[int]
    SEND_WELCOME_EMAIL_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELDS_FIELD_NUMBER: _ClassVar[int]
    email: str
    name: str
    password: str
    username: str
    active: bool
    roles: _struct_pb2.ListValue
    join_default_channels: bool
    require_password_change: bool
    send_welcome_email: bool
    verified: bool
    custom_fields: _struct_pb2.Struct
    def __init__(self, email: _Optional[str] = ..., name: _Optional[str] = ..., password: _Optional[str] = ..., username: _Optional[str] = ..., active: _Optional[bool] = ..., roles: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ..., join_default_channels: _Optional[bool] = ..., require_password_change: _Optional[bool] = ..., send_welcome_email: _Optional[bool] = ..., verified: _Optional[bool] = ..., custom_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class RocketChatUserReply(_message.Message):
    __slots__ = ("user", "success")
    USER_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    user: RocketChatUser
    success: bool
    def __init__(self, user: _Optional[_Union[RocketChatUser, _Mapping]] = ..., success: _Optional[bool] = ...) -> None: ...

class RocketChatError(_message.Message):
    __slots__ = ("success", "error", "error_type", "details")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    error: str
    error_type: str
    details: RocketChatErrorDetails
    def __init__(self, success: _Optional[bool] = ..., error: _Optional[str] = ..., error_type: _Optional[str] = ..., details: _Optional[_Union[RocketChatErrorDetails, _Mapping]] = ...) -> None: ...

class RocketChatErrorDetails(_message.Message):
    __slots__ = ("fields",)
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedCompositeFieldContainer[RocketChatFieldError]
    def __init__(self, fields: _Optional[_Iterable[_Union[RocketChatFieldError, _Mapping]]] = ...) -> None: ...

class RocketChatFieldError(_message.Message):
    __slots__ = ("field", "description")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    field: str
    description: str
    def __init__(self, field: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class RocketChatUnauthorized(_message.Message):
    __slots__ = ("status", "message")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    status: str
    message: str
    def __init__(self, status: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class RocketChatUser(_message.Message):
    __slots__ = ("id", "created_at", "username", "emails", "type", "active", "roles", "updated_at", "name", "custom_fields", "require_password_change")
    class CustomFieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    EMAILS_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELDS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_PASSWORD_CHANGE_FIELD_NUMBER: _ClassVar[int]
    id: str
    created_at: str
    username: str
    emails: _containers.RepeatedCompositeFieldContainer[RocketChatEmail]
    type: str
    active: bool
    roles: _containers.RepeatedScalarFieldContainer[str]
    updated_at: str
    name: str
    custom_fields: _containers.ScalarMap[str, str]
    require_password_change: bool
    def __init__(self, id: _Optional[str] = ..., created_at: _Optional[str] = ..., username: _Optional[str] = ..., emails: _Optional[_Iterable[_Union[RocketChatEmail, _Mapping]]] = ..., type: _Optional[str] = ..., active: _Optional[bool] = ..., roles: _Optional[_Iterable[str]] = ..., updated_at: _Optional[str] = ..., name: _Optional[str] = ..., custom_fields: _Optional[_Mapping[str, str]] = ..., require_password_change: _Optional[bool] = ...) -> None: ...

class RocketChatEmail(_message.Message):
    __slots__ = ("address", "verified")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    address: str
    verified: bool
    def __init__(self, address: _Optional[str] = ..., verified: _Optional[bool] = ...) -> None: ...
