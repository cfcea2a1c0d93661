from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UserdocksUpdateUserRequest(_message.Message):
    __slots__ = ("user_id", "user", "test")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    TEST_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    user: UserdocksUser
    test: bool
    def __init__(self, user_id: _Optional[str] = ..., user: _Optional[_Union[UserdocksUser, _Mapping]] = ..., test: _Optional[bool] = ...) -> None: ...

class UserdocksUser(_message.Message):
    __slots__ = ("id", "language", "salutation", "salutation_other", "accepted_newsletter", "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile", "picture", "website", "email", "gender", "other_gender", "birthdate", "zoneinfo", "locale", "phone_number", "freezed", "deleted", "tenant_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SALUTATION_FIELD_NUMBER: _ClassVar[int]
    SALUTATION_OTHER_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_NEWSLETTER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    MIDDLE_NAME_FIELD_NUMBER: _ClassVar[int]
    NICKNAME_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_USERNAME_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PICTURE_FIELD_NUMBER: _ClassVar[int]
    WEBSITE_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    GENDER_FIELD_NUMBER: _ClassVar[int]
    OTHER_GENDER_FIELD_NUMBER: _ClassVar[int]
    BIRTHDATE_FIELD_NUMBER: _ClassVar[int]
    ZONEINFO_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FREEZED_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    language: str
    salutation: str
    salutation_other: str
    accepted_newsletter: bool
    name: str
    given_name: str
    family_name: str
    middle_name: str
    nickname: str
    preferred_username: str
    profile: str
    picture: str
    website: str
    email: str
    gender: str
    other_gender: str
    birthdate: str
    zoneinfo: str
    locale: str
    phone_number: str
    freezed: bool
    deleted: bool
    tenant_id: _struct_pb2.Value
    def __init__(self, id: _Optional[str] = ..., language: _Optional[str] = ..., salutation: _Optional[str] = ..., salutation_other: _Optional[str] = ..., accepted_newsletter: _Optional[bool] = ..., name: _Optional[str] = ..., given_name: _Optional[str] = ..., family_name: _Optional[str] = ..., middle_name: _Optional[str] = ..., nickname: _Optional[str] = ..., preferred_username: _Optional[str] = ..., profile: _Optional[str] = ..., picture: _Optional[str] = ..., website: _Optional[str] = ..., email: _Optional[str] = ..., gender: _Optional[str] = ..., other_gender: _Optional[str] = ..., birthdate: _Optional[str] = ..., zoneinfo: _Optional[str] = ..., locale: _Optional[str] = ..., phone_number: _Optional[str] = ..., freezed: _Optional[bool] = ..., deleted: _Optional[bool] = ..., tenant_id: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class UserdocksReply(_message.Message):
    __slots__ = ("success", "message", "error", "data")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    error: str
    data: UserdocksUser
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ..., error: _Optional[str] = ..., data: _Optional[_Union[UserdocksUser, _Mapping]] = ...) -> None: ...
