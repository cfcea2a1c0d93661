"""The discovery documents (RFC 7644 section 4): ServiceProviderConfig, ResourceTypes, Schemas.

The schemas are scim2-models' own User and EnterpriseUser schemas (``to_schema``), less what this
service does not store (``ims``, ``entitlements``, ``x509Certificates``, and ``groups``: no Groups),
with suggested ``canonicalValues`` where our rules are stricter than SCIM's free strings (``locale``
is a BCP 47 tag, ``timezone`` an IANA zone, ``roles.value`` a role name). ``active`` is marked
required: every user here is active or not (a POST without it makes an active user).
"""

from __future__ import annotations

from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    ETag,
    Filter,
    Meta,
    NotFoundException,
    Patch,
    Required,
    ResourceType,
    Schema,
    ServiceProviderConfig,
    Sort,
)
from scim2_models import User as ScimUserBase

from service.scim.filter import MAX_COUNT
from service.scim.mapping import EnterpriseUser, ScimUser

DROPPED = frozenset({"ims", "entitlements", "x509Certificates", "groups"})
CANONICAL_VALUES: dict[tuple[str, ...], list[str]] = {
    ("locale",): ["en-US", "en-GB", "fr-FR", "de-DE", "es-ES", "ja-JP"],
    ("timezone",): ["America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Paris", "Asia/Tokyo"],
    ("roles", "value"): ["admin", "member", "viewer"],
}
DOCS = "docs/scim.md"


def _trim(schema: Schema) -> Schema:
    attributes = []
    for attribute in schema.attributes or []:
        if attribute.name in DROPPED:
            continue
        if attribute.name == "active":  # always set here: ACTIVE or LOCKED (a POST without it is active)
            attribute.required = Required.true
        if attribute.name == "manager":  # we keep the manager's id only
            attribute.sub_attributes = [s for s in attribute.sub_attributes or [] if s.name == "value"]
        name = str(attribute.name)
        if (name,) in CANONICAL_VALUES:
            attribute.canonical_values = CANONICAL_VALUES[(name,)]
        for sub in attribute.sub_attributes or []:
            if (name, str(sub.name)) in CANONICAL_VALUES:
                sub.canonical_values = CANONICAL_VALUES[(name, str(sub.name))]
        attributes.append(attribute)
    schema.attributes = attributes
    return schema


def schemas() -> list[Schema]:
    return [_trim(ScimUserBase.to_schema()), _trim(EnterpriseUser.to_schema())]


def service_provider_config() -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_COUNT),
        change_password=ChangePassword(supported=True),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        authentication_schemes=[AuthenticationScheme(
            type=AuthenticationScheme.Type.oauthbearertoken, name="API key",
            description="An admin API key of the tenant: Authorization: Bearer <key> (userservice keys create)",
            primary=True)],
    )


def resource_types() -> list[ResourceType]:
    return [ResourceType.from_resource(ScimUser)]


def document(endpoint: str, item: str, base: str) -> dict[str, Any]:
    """The JSON of ``GET /scim/v2/<endpoint>[/<item>]``; NotFoundException for an unknown item."""
    ctx = Context.RESOURCE_QUERY_RESPONSE
    if endpoint == "ServiceProviderConfig":
        spc = service_provider_config()
        spc.meta = Meta(resource_type="ServiceProviderConfig", location=f"{base}/ServiceProviderConfig")
        return spc.model_dump(scim_ctx=ctx)
    found: list[Schema] | list[ResourceType]
    if endpoint == "Schemas":
        found = schemas()
        for schema in found:
            schema.meta = Meta(resource_type="Schema", location=f"{base}/Schemas/{schema.id}")
    else:
        found = resource_types()
        for rt in found:
            rt.meta = Meta(resource_type="ResourceType", location=f"{base}/ResourceTypes/{rt.id}")
    docs = [d.model_dump(scim_ctx=ctx) for d in found]
    if item:
        for doc, obj in zip(docs, found, strict=True):
            if obj.id == item:
                return doc
        raise NotFoundException(detail=f"no {endpoint} {item}")
    return {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": len(docs),
            "itemsPerPage": len(docs), "startIndex": 1, "Resources": docs}
