import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from userservice.v1 import field_access_pb2 as _field_access_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class User(_message.Message):
    __slots__ = ("id", "username", "email", "email_verified", "phone_number", "phone_verified", "display_name", "given_name", "family_name", "middle_name", "nickname", "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "address", "attributes", "roles", "state", "auth_type", "require_password_change", "external_id", "password", "create_time", "update_time", "last_login_time", "last_failed_login_time", "etag", "failed_login_count", "lockout_end_time")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[User.State]
        ACTIVE: _ClassVar[User.State]
        LOCKED: _ClassVar[User.State]
        DELETED: _ClassVar[User.State]
    STATE_UNSPECIFIED: User.State
    ACTIVE: User.State
    LOCKED: User.State
    DELETED: User.State
    class AuthType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        AUTH_TYPE_UNSPECIFIED: _ClassVar[User.AuthType]
        PASSWORD: _ClassVar[User.AuthType]
        TWO_FACTOR: _ClassVar[User.AuthType]
        ONE_TIME_PASSWORD: _ClassVar[User.AuthType]
    AUTH_TYPE_UNSPECIFIED: User.AuthType
    PASSWORD: User.AuthType
    TWO_FACTOR: User.AuthType
    ONE_TIME_PASSWORD: User.AuthType
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PHONE_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    MIDDLE_NAME_FIELD_NUMBER: _ClassVar[int]
    NICKNAME_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PICTURE_FIELD_NUMBER: _ClassVar[int]
    WEBSITE_FIELD_NUMBER: _ClassVar[int]
    GENDER_FIELD_NUMBER: _ClassVar[int]
    BIRTHDATE_FIELD_NUMBER: _ClassVar[int]
    ZONEINFO_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    AUTH_TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_PASSWORD_CHANGE_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_LOGIN_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_FAILED_LOGIN_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    FAILED_LOGIN_COUNT_FIELD_NUMBER: _ClassVar[int]
    LOCKOUT_END_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    username: str
    email: str
    email_verified: bool
    phone_number: str
    phone_verified: bool
    display_name: str
    given_name: str
    family_name: str
    middle_name: str
    nickname: str
    profile: str
    picture: str
    website: str
    gender: str
    birthdate: str
    zoneinfo: str
    locale: str
    address: Address
    attributes: _containers.ScalarMap[str, str]
    roles: _containers.RepeatedScalarFieldContainer[str]
    state: User.State
    auth_type: User.AuthType
    require_password_change: bool
    external_id: str
    password: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    last_login_time: _timestamp_pb2.Timestamp
    last_failed_login_time: _timestamp_pb2.Timestamp
    etag: str
    failed_login_count: int
    lockout_end_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., username: _Optional[str] = ..., email: _Optional[str] = ..., email_verified: _Optional[bool] = ..., phone_number: _Optional[str] = ..., phone_verified: _Optional[bool] = ..., display_name: _Optional[str] = ..., given_name: _Optional[str] = ..., family_name: _Optional[str] = ..., middle_name: _Optional[str] = ..., nickname: _Optional[str] = ..., profile: _Optional[str] = ..., picture: _Optional[str] = ..., website: _Optional[str] = ..., gender: _Optional[str] = ..., birthdate: _Optional[str] = ..., zoneinfo: _Optional[str] = ..., locale: _Optional[str] = ..., address: _Optional[_Union[Address, _Mapping]] = ..., attributes: _Optional[_Mapping[str, str]] = ..., roles: _Optional[_Iterable[str]] = ..., state: _Optional[_Union[User.State, str]] = ..., auth_type: _Optional[_Union[User.AuthType, str]] = ..., require_password_change: _Optional[bool] = ..., external_id: _Optional[str] = ..., password: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_login_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_failed_login_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ..., failed_login_count: _Optional[int] = ..., lockout_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Address(_message.Message):
    __slots__ = ("formatted", "street_address", "locality", "region", "postal_code", "country")
    FORMATTED_FIELD_NUMBER: _ClassVar[int]
    STREET_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LOCALITY_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    POSTAL_CODE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    formatted: str
    street_address: str
    locality: str
    region: str
    postal_code: str
    country: str
    def __init__(self, formatted: _Optional[str] = ..., street_address: _Optional[str] = ..., locality: _Optional[str] = ..., region: _Optional[str] = ..., postal_code: _Optional[str] = ..., country: _Optional[str] = ...) -> None: ...

class UserChange(_message.Message):
    __slots__ = ("sequence", "user_id", "key_id", "method", "paths", "old_values", "new_values", "change_time")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    OLD_VALUES_FIELD_NUMBER: _ClassVar[int]
    NEW_VALUES_FIELD_NUMBER: _ClassVar[int]
    CHANGE_TIME_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    user_id: str
    key_id: str
    method: str
    paths: _containers.RepeatedScalarFieldContainer[str]
    old_values: str
    new_values: str
    change_time: _timestamp_pb2.Timestamp
    def __init__(self, sequence: _Optional[int] = ..., user_id: _Optional[str] = ..., key_id: _Optional[str] = ..., method: _Optional[str] = ..., paths: _Optional[_Iterable[str]] = ..., old_values: _Optional[str] = ..., new_values: _Optional[str] = ..., change_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
