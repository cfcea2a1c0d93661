"""SCIM 2.0 (RFC 7643, RFC 7644) under ``/scim/v2/``: Users and discovery, over the canonical core.

Modules: ``servicer`` (the routes), ``mapping`` (SCIM User <-> ``User``), ``patch``, ``filter``,
``errors``, ``discovery``, ``policy`` (how scim2-models reads and compares), ``core`` (every call into
UserService and the store). See docs/scim.md.
"""

from __future__ import annotations

import grpc
from userservice.v1 import scim_pb2, scim_pb2_grpc

from service.auth import Authenticator
from service.scim.servicer import ScimServicer
from service.users.servicer import UserService

_SERVICE = scim_pb2.DESCRIPTOR.services_by_name["ScimService"]
SERVICE = _SERVICE.full_name
#: Every SCIM method authenticates its own key, so that a bad key is answered as a SCIM error.
SELF_AUTHENTICATED: frozenset[str] = frozenset(f"/{SERVICE}/{m.name}" for m in _SERVICE.methods)


def add_to_server(server: grpc.aio.Server, users: UserService, auth: Authenticator) -> None:
    scim_pb2_grpc.add_ScimServiceServicer_to_server(ScimServicer(users, auth), server)  # type: ignore[no-untyped-call]
