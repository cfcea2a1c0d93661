from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SyncanoGetUserRequest(_message.Message):
    __slots__ = ("instance", "user_id")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    instance: str
    user_id: str
    def __init__(self, instance: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class SyncanoGetClassRequest(_message.Message):
    __slots__ = ("instance", "class_name")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    instance: str
    class_name: str
    def __init__(self, instance: _Optional[str] = ..., class_name: _Optional[str] = ...) -> None: ...

class SyncanoReplaceUserRequest(_message.Message):
    __slots__ = ("instance", "user_id", "username", "password")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    instance: str
    user_id: str
    username: str
    password: str
    def __init__(self, instance: _Optional[str] = ..., user_id: _Optional[str] = ..., username: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class SyncanoUpdateUserRequest(_message.Message):
    __slots__ = ("instance", "user_id", "username", "password")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    instance: str
    user_id: str
    username: str
    password: str
    def __init__(self, instance: _Optional[str] = ..., user_id: _Optional[str] = ..., username: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class SyncanoUser(_message.Message):
    __slots__ = ("id", "username", "profile", "links", "groups")
    class LinksEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    id: int
    username: str
    profile: SyncanoProfile
    links: _containers.ScalarMap[str, str]
    groups: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[int] = ..., username: _Optional[str] = ..., profile: _Optional[_Union[SyncanoProfile, _Mapping]] = ..., links: _Optional[_Mapping[str, str]] = ..., groups: _Optional[_Iterable[str]] = ...) -> None: ...

class SyncanoProfile(_message.Message):
    __slots__ = ("id", "owner", "created_at", "updated_at", "owner_permissions", "group_permissions", "other_permissions", "revision", "links")
    class LinksEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    OWNER_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    GROUP_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    OTHER_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    id: int
    owner: int
    created_at: str
    updated_at: str
    owner_permissions: str
    group_permissions: str
    other_permissions: str
    revision: int
    links: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[int] = ..., owner: _Optional[int] = ..., created_at: _Optional[str] = ..., updated_at: _Optional[str] = ..., owner_permissions: _Optional[str] = ..., group_permissions: _Optional[str] = ..., other_permissions: _Optional[str] = ..., revision: _Optional[int] = ..., links: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SyncanoClass(_message.Message):
    __slots__ = ("name", "description", "schema", "status", "revision", "group_permissions", "other_permissions", "links")
    class LinksEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    GROUP_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    OTHER_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    schema: _containers.RepeatedScalarFieldContainer[str]
    status: str
    revision: int
    group_permissions: str
    other_permissions: str
    links: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., schema: _Optional[_Iterable[str]] = ..., status: _Optional[str] = ..., revision: _Optional[int] = ..., group_permissions: _Optional[str] = ..., other_permissions: _Optional[str] = ..., links: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SyncanoDetail(_message.Message):
    __slots__ = ("detail",)
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    detail: str
    def __init__(self, detail: _Optional[str] = ...) -> None: ...
