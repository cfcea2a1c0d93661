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

class UserKitGetUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class UserKitUpdateUserRequest(_message.Message):
    __slots__ = ("user_id", "name", "username", "email", "password", "auth_type", "phone", "verified_phone_token", "extras")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    AUTH_TYPE_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_PHONE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXTRAS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    name: str
    username: str
    email: str
    password: str
    auth_type: str
    phone: str
    verified_phone_token: str
    extras: _struct_pb2.Struct
    def __init__(self, user_id: _Optional[str] = ..., name: _Optional[str] = ..., username: _Optional[str] = ..., email: _Optional[str] = ..., password: _Optional[str] = ..., auth_type: _Optional[str] = ..., phone: _Optional[str] = ..., verified_phone_token: _Optional[str] = ..., extras: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class UserKitUser(_message.Message):
    __slots__ = ("id", "name", "username", "email", "verified_email", "verified_phone", "auth_type", "disabled", "created", "last_failed_login", "last_login", "extras")
    class ExtrasEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_EMAIL_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_PHONE_FIELD_NUMBER: _ClassVar[int]
    AUTH_TYPE_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    LAST_FAILED_LOGIN_FIELD_NUMBER: _ClassVar[int]
    LAST_LOGIN_FIELD_NUMBER: _ClassVar[int]
    EXTRAS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    username: str
    email: str
    verified_email: str
    verified_phone: str
    auth_type: str
    disabled: bool
    created: float
    last_failed_login: float
    last_login: float
    extras: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., username: _Optional[str] = ..., email: _Optional[str] = ..., verified_email: _Optional[str] = ..., verified_phone: _Optional[str] = ..., auth_type: _Optional[str] = ..., disabled: _Optional[bool] = ..., created: _Optional[float] = ..., last_failed_login: _Optional[float] = ..., last_login: _Optional[float] = ..., extras: _Optional[_Mapping[str, str]] = ...) -> None: ...

class UserKitError(_message.Message):
    __slots__ = ("type", "code", "param", "message")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    PARAM_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    type: str
    code: str
    param: str
    message: str
    def __init__(self, type: _Optional[str] = ..., code: _Optional[str] = ..., param: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class UserKitErrorReply(_message.Message):
    __slots__ = ("error", "errors")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    error: UserKitError
    errors: _containers.RepeatedCompositeFieldContainer[UserKitError]
    def __init__(self, error: _Optional[_Union[UserKitError, _Mapping]] = ..., errors: _Optional[_Iterable[_Union[UserKitError, _Mapping]]] = ...) -> None: ...
