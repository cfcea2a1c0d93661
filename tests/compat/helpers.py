"""Shared by the seed tests: read the stored canonical user, and name fields of canonical errors."""

from __future__ import annotations

from typing import Any

from userservice.v1 import user_pb2, user_service_pb2

from tests.support import Reply, Service


def stored(service: Service, admin_key: str, user_id: str) -> user_pb2.User:
    """The canonical user as the database has it now (over gRPC, no adapter involved)."""
    return service.call("GetUser", user_service_pb2.GetUserRequest(id=user_id), admin_key)  # type: ignore[no-any-return]


def violations(reply: Reply) -> list[str]:
    """The fields named by a canonical ``{code, message, details}`` error."""
    body: Any = reply.json
    return [v["field"] for d in body["details"] if d["@type"].endswith("BadRequest") for v in d["fieldViolations"]]


def reason(reply: Reply) -> str | None:
    for d in reply.json["details"]:
        if d["@type"].endswith("ErrorInfo"):
            return str(d["reason"])
    return None
