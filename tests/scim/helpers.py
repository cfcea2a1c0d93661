"""Shared by the SCIM tests: calls through Envoy with SCIM's media type, and a tenant of their own."""

from __future__ import annotations

from typing import Any

from tests.support import Reply, Service, unique

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def tenant_key(service: Service) -> str:
    """An admin key of a tenant no other test uses (so lists and totals are this test's own)."""
    return service.key("admin", tenant=unique("scim"))


def scim(service: Service, method: str, path: str, body: Any = None, *, key: str,
         headers: dict[str, str] | None = None, content_type: str = "application/scim+json") -> Reply:
    """One SCIM call under /scim/v2 through Envoy."""
    return service.rest(method, f"/scim/v2{path}", body, key=key,
                        headers={"content-type": content_type, **(headers or {})})


def patch_op(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def error(reply: Reply) -> tuple[int, str | None]:
    """A SCIM error's HTTP status and scimType, after checking that the body is a SCIM Error of that status."""
    body = reply.json
    assert body["schemas"] == [ERROR], reply.text
    assert body["status"] == str(reply.status), reply.text
    assert reply.headers["content-type"] == "application/scim+json"
    return reply.status, body.get("scimType")


def new_user(service: Service, key: str, **fields: Any) -> dict[str, Any]:
    """A user created through SCIM; its JSON."""
    body = {"schemas": [CORE], "userName": unique("scimuser"), **fields}
    reply = scim(service, "POST", "/Users", body, key=key)
    assert reply.status == 201, reply.text
    return dict(reply.json)
