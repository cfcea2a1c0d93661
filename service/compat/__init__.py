"""Adapters for the seed APIs (CONTRACT section 7): one module per API, each over ``UserService.update``.

``add_to_server`` registers them, and SCIM 2.0 (``service.scim``, its own package: docs/scim.md), which is
wired in here so that the server and Envoy's list of transcoded services take it with the adapters.
UserKit, userdocks, Rocket.Chat and Syncano authenticate inside the adapter (``SELF_AUTHENTICATED``), so
that a missing or bad key is answered in the seed's own error JSON; seed 004 is authenticated by the call
interceptor like UserService.
"""

from __future__ import annotations

import grpc
from userservice.v1 import (
    compat_pm_pb2,
    compat_pm_pb2_grpc,
    compat_rocketchat_pb2,
    compat_rocketchat_pb2_grpc,
    compat_syncano_pb2,
    compat_syncano_pb2_grpc,
    compat_userdocks_pb2,
    compat_userdocks_pb2_grpc,
    compat_userkit_pb2,
    compat_userkit_pb2_grpc,
)

from service import scim
from service.auth import Authenticator
from service.compat.pm import PmAdapter
from service.compat.rocketchat import RocketChatAdapter
from service.compat.syncano import SyncanoAdapter
from service.compat.userdocks import UserdocksAdapter
from service.compat.userkit import UserKitAdapter
from service.users.servicer import UserService

_SELF_AUTHENTICATED_SERVICES = (
    compat_userkit_pb2.DESCRIPTOR.services_by_name["UserKitCompatService"],
    compat_userdocks_pb2.DESCRIPTOR.services_by_name["UserdocksCompatService"],
    compat_syncano_pb2.DESCRIPTOR.services_by_name["SyncanoCompatService"],
    compat_rocketchat_pb2.DESCRIPTOR.services_by_name["RocketChatCompatService"],
)
SERVICES = (*(s.full_name for s in (
    *_SELF_AUTHENTICATED_SERVICES,
    compat_pm_pb2.DESCRIPTOR.services_by_name["PmCompatService"],
    )), scim.SERVICE)
#: gRPC methods whose adapter authenticates the call itself (the interceptor lets them through).
SELF_AUTHENTICATED: frozenset[str] = frozenset(
    f"/{s.full_name}/{m.name}" for s in _SELF_AUTHENTICATED_SERVICES for m in s.methods
) | scim.SELF_AUTHENTICATED


def add_to_server(server: grpc.aio.Server, users: UserService, auth: Authenticator) -> None:
    compat_userkit_pb2_grpc.add_UserKitCompatServiceServicer_to_server(UserKitAdapter(users, auth), server)  # type: ignore[no-untyped-call]
    compat_userdocks_pb2_grpc.add_UserdocksCompatServiceServicer_to_server(UserdocksAdapter(users, auth), server)  # type: ignore[no-untyped-call]
    compat_rocketchat_pb2_grpc.add_RocketChatCompatServiceServicer_to_server(RocketChatAdapter(users, auth), server)  # type: ignore[no-untyped-call]
    compat_syncano_pb2_grpc.add_SyncanoCompatServiceServicer_to_server(SyncanoAdapter(users, auth), server)  # type: ignore[no-untyped-call]
    compat_pm_pb2_grpc.add_PmCompatServiceServicer_to_server(PmAdapter(users), server)  # type: ignore[no-untyped-call]
    scim.add_to_server(server, users, auth)
