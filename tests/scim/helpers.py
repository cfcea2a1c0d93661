"""Shared by the SCIM tests: calls through Envoy with SCIM's media type, and a tenant of their own."""

from __future__ import annotations

import http.client
import json
from typing import Any, Protocol

from tests.support import Reply, Service, unique

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def tenant_key(service: Service) -> str:
    """An admin key of a tenant no other test uses (so lists and totals are this test's own)."""
    return service.key("admin", tenant=unique("scim"))


class Door(Protocol):
    """Where Envoy listens: a ``Service``, or ``serve --replicas``."""

    host: str
    http_port: int | None


def scim(door: Door, method: str, path: str, body: Any = None, *, key: str,
         headers: dict[str, str] | None = None, content_type: str = "application/scim+json") -> Reply:
    """One SCIM call under /scim/v2 through Envoy."""
    hdrs = {"content-type": content_type, "authorization": f"Bearer {key}", **(headers or {})}
    conn = http.client.HTTPConnection(door.host, door.http_port, timeout=15)
    try:
        conn.request(method, f"/scim/v2{path}", body=None if body is None else json.dumps(body).encode(),
                     headers=hdrs)
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode())
    finally:
        conn.close()


def patch_op(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def error(reply: Reply) -> tuple[int, str | None]:
    """A SCIM error's HTTP status and scimType, after checking that the body is a SCIM Error of that status."""
    body = reply.json
    assert body["schemas"] == [ERROR], reply.text
    assert body["status"] == str(reply.status), reply.text
    assert reply.headers["content-type"] == "application/scim+json"
    return reply.status, body.get("scimType")


def new_user(door: Door, key: str, **fields: Any) -> dict[str, Any]:
    """A user created through SCIM; its JSON."""
    body = {"schemas": [CORE], "userName": unique("scimuser"), **fields}
    reply = scim(door, "POST", "/Users", body, key=key)
    assert reply.status == 201, reply.text
    return dict(reply.json)
