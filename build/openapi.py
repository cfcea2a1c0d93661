"""OpenAPI 3.1 from the descriptor set: every ``google.api.http`` route as Envoy's transcoder serves it.

usage: python build/openapi.py DESCRIPTOR_SET_WITH_SOURCE_INFO OUT.json

Run by ``build/generate.sh`` (``make generate``); the result is ``generated/openapi.json``. It is generic
over the descriptor set: every method of every service that has ``google.api.http`` rules becomes an
operation, so a route added in ``proto/`` appears after ``make generate``.

Why our own generator (docs/api.md, "The OpenAPI document"): grpc-gateway's ``protoc-gen-openapiv2``
is not installable here (not in Debian, PyPI or npm), and Debian's ``protoc-gen-swagger`` 1.6.4 refuses
proto3 ``optional`` and drops the query parameters of methods with a body. This one also gets right
what those generators get wrong for Envoy:

- every field that is neither in the path nor in the body is a query parameter with its JSON
  (camelCase) name: ``updateMask``, ``validateOnly``, ``requestId``, ``etag`` (Envoy does not derive
  masks, envoyproxy/envoy#10235, and rejects unknown query parameters);
- JSON names as Envoy prints them; ``FieldMask`` a comma-separated string; ``Timestamp`` a
  ``date-time`` string; 64-bit integers strings; enums by name; ``Struct``/``Value``/``ListValue`` as
  JSON; OUTPUT_ONLY ``readOnly``, INPUT_ONLY ``writeOnly``, REQUIRED in ``required``, our
  ``field_access`` option as ``x-field-access``; descriptions from the ``.proto`` comments;
- errors as ``google.rpc.Status`` whose ``details`` are ``BadRequest`` / ``ErrorInfo``, with the HTTP
  statuses the routes really answer; the ``ETag`` response and ``If-Match`` request headers; the
  accepted credentials as security schemes;
- a route answering ``google.api.HttpBody`` (a seed adapter that writes its own JSON) described by
  the messages its adapter really renders (``HTTP_BODY_REPLIES``), not as ``{contentType, data}``;
- paths that differ only in parameter names (``/v1/users/{id}``, ``/v1/users/{user_id}``,
  ``/v1/users/{user.id}``) are one path item (OpenAPI forbids both), its parameter named by most of
  its operations.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.api import annotations_pb2, field_behavior_pb2, http_pb2
from google.protobuf import descriptor_pb2
from userservice.v1 import field_access_pb2

FDP = descriptor_pb2.FieldDescriptorProto
Schema = dict[str, Any]
OUR_PACKAGE = "userservice.v1"


@dataclass(frozen=True)
class HttpBodyReply:
    """What a route answering google.api.HttpBody writes: message names (short, in the method's package)
    or names of ``EXTRA_SCHEMAS``, and the content type its adapter sets."""

    ok: str
    error: str
    content_type: str = "application/json"
    #: The status of a success (201 for a create, 204 with no body; SCIM's refusal route always 405).
    ok_status: int = 200
    #: Statuses the route answers besides the service's usual ones (SCIM: 304, 412, 415).
    more: tuple[int, ...] = ()


#: The routes answering google.api.HttpBody: the message their adapter renders with HTTP 200, and the schema
#: of its error replies. Read from the adapters in service/compat/ (the ``http_reply`` calls); schemathesis
#: checks every reply against it (tests/test_openapi_fuzz.py). A new HttpBody route must be added here:
#: ``make generate`` stops and says so.
SCIM_JSON = "application/scim+json"
HTTP_BODY_REPLIES: dict[str, HttpBodyReply] = {
    "userservice.v1.UserKitCompatService.UserKitUpdateUser": HttpBodyReply("UserKitUser", "UserKitErrorReply"),
    "userservice.v1.UserdocksCompatService.UserdocksUpdateUser": HttpBodyReply("UserdocksReply", "UserdocksReply"),
    "userservice.v1.SyncanoCompatService.SyncanoReplaceUser": HttpBodyReply("SyncanoUser", "SyncanoError"),
    "userservice.v1.SyncanoCompatService.SyncanoUpdateUser": HttpBodyReply("SyncanoUser", "SyncanoError"),
    "userservice.v1.SyncanoCompatService.SyncanoGetUser": HttpBodyReply("SyncanoUser", "SyncanoError"),
    "userservice.v1.SyncanoCompatService.SyncanoGetClass": HttpBodyReply("SyncanoClass", "SyncanoError"),
    "userservice.v1.UserKitCompatService.UserKitGetUser": HttpBodyReply("UserKitUser", "UserKitErrorReply"),
    "userservice.v1.RocketChatCompatService.RocketChatUpdateUser": HttpBodyReply("RocketChatUserReply",
                                                                                "RocketChatErrorReply"),
    "userservice.v1.RocketChatCompatService.RocketChatGetUserInfo": HttpBodyReply("RocketChatUserReply",
                                                                                 "RocketChatErrorReply"),
    "userservice.v1.ScimService.ScimListUsers": HttpBodyReply("ScimListResponse", "ScimError", SCIM_JSON),
    "userservice.v1.ScimService.ScimSearchUsers": HttpBodyReply("ScimListResponse", "ScimError", SCIM_JSON,
                                                                  more=(415,)),
    "userservice.v1.ScimService.ScimGetUser": HttpBodyReply("ScimUser", "ScimError", SCIM_JSON, more=(304,)),
    "userservice.v1.ScimService.ScimCreateUser": HttpBodyReply("ScimUser", "ScimError", SCIM_JSON, 201, (415,)),
    "userservice.v1.ScimService.ScimReplaceUser": HttpBodyReply("ScimUser", "ScimError", SCIM_JSON, more=(412, 415)),
    "userservice.v1.ScimService.ScimPatchUser": HttpBodyReply("ScimUser", "ScimError", SCIM_JSON, more=(412, 415)),
    "userservice.v1.ScimService.ScimDeleteUser": HttpBodyReply("ScimNoContent", "ScimError", SCIM_JSON, 204, (412,)),
    "userservice.v1.ScimService.ScimDiscover": HttpBodyReply("ScimDocument", "ScimError", SCIM_JSON),
    "userservice.v1.ScimService.ScimRefuse": HttpBodyReply("ScimError", "ScimError", SCIM_JSON, 405),
}
#: Hand-written components the HttpBody table names (shapes no message carries).
EXTRA_SCHEMAS: dict[str, Schema] = {
    # SCIM's shapes are RFC 7643's, written by scim2-models (docs/scim.md): described here by their outline.
    "ScimUser": {"description": "A SCIM User (RFC 7643 section 4.1, with the enterprise extension); the "
                                "mapping is in docs/scim.md.",
                 "type": "object", "required": ["schemas", "id"],  # `attributes=` may leave the rest out
                 "properties": {"schemas": {"type": "array", "items": {"type": "string"}}, "id": {"type": "string"},
                                "userName": {"type": "string"}, "meta": {"type": "object"}},
                 "additionalProperties": True},
    "ScimListResponse": {"description": "A SCIM ListResponse (RFC 7644 section 3.4.2).", "type": "object",
                         "required": ["schemas", "totalResults"],
                         "properties": {"schemas": {"type": "array", "items": {"type": "string"}},
                                        "totalResults": {"type": "integer"}, "startIndex": {"type": "integer"},
                                        "itemsPerPage": {"type": "integer"},
                                        "Resources": {"type": "array", "items": {"type": "object"}}},
                         "additionalProperties": True},
    "ScimError": {"description": "A SCIM error (RFC 7644 section 3.12).", "type": "object",
                  "required": ["schemas", "status"],
                  "properties": {"schemas": {"type": "array", "items": {"type": "string"}},
                                 "status": {"type": "string"}, "scimType": {"type": "string"},
                                 "detail": {"type": "string"}},
                  "additionalProperties": True},
    "ScimDocument": {"description": "A SCIM discovery document (ServiceProviderConfig, a ResourceType, a "
                                    "Schema, or a ListResponse of them).", "type": "object",
                     "additionalProperties": True},
    "ScimNoContent": {"description": "No body (204).", "type": "object", "additionalProperties": True},
    "RocketChatErrorReply": {
        "description": "Rocket.Chat's failure JSON: a RocketChatError (400, 403) or, for missing or bad "
                       "credentials, a RocketChatUnauthorized (401).",
        "anyOf": [{"$ref": "#/components/schemas/RocketChatError"},
                  {"$ref": "#/components/schemas/RocketChatUnauthorized"}],
    },
    "SyncanoError": {
        "description": "Syncano's error JSON: `{\"detail\": \"...\"}`, or for field errors an object of field "
                       "name to a list of messages, e.g. `{\"username\": [\"This field is required.\"]}`.",
        "anyOf": [{"$ref": "#/components/schemas/SyncanoDetail"},
                  {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}],
    },
}
#: Methods that ignore ``If-Match`` although they write one user (ChangePassword checks the current
#: password instead; see docs/api.md).
NO_IF_MATCH = {"userservice.v1.UserService.ChangePassword"}

# HTTP statuses (docs/api.md "Errors"): what Envoy answers itself and what the gRPC codes map to.
STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified: the `If-None-Match` names the current version",
    405: "Method Not Allowed: this endpoint does not take this method",
    412: "Precondition Failed: the `If-Match` names another version; nothing was written",
    415: "Unsupported Media Type: the body is neither application/scim+json nor application/json",
    400: "INVALID_ARGUMENT or FAILED_PRECONDITION; or Envoy refused the request (bad JSON, an unknown query "
         "parameter, a body field that is also in the path)",
    401: "UNAUTHENTICATED: no API key, or an unknown or revoked one",
    403: "PERMISSION_DENIED: the key's role may not do this (ErrorInfo.metadata.paths names the fields)",
    404: "NOT_FOUND: no such user in the key's tenant; or no route for this method and path",
    409: "ABORTED (ErrorInfo.reason ETAG_MISMATCH, the current etag in metadata.etag) or ALREADY_EXISTS",
    413: "the body is larger than 1 MiB",
    429: "RESOURCE_EXHAUSTED: too many password hashes in flight, or the database disk is full; retry later",
    503: "UNAVAILABLE: the server (or its writer process) is not reachable; retry later",
}
WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "A comma-separated list of field paths, in JSON (camelCase) or proto names.",
    },
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {"type": "object", "properties": {"@type": {"type": "string"}},
                            "required": ["@type"], "additionalProperties": True},
    "google.protobuf.StringValue": {"type": ["string", "null"]},
    "google.protobuf.BoolValue": {"type": ["boolean", "null"]},
    "google.protobuf.Int32Value": {"type": ["integer", "null"], "format": "int32"},
    "google.protobuf.DoubleValue": {"type": ["number", "null"]},
}
INT32 = {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1}
UINT32 = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1}
SCALARS: dict[int, Schema] = {
    FDP.TYPE_STRING: {"type": "string"},
    FDP.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
    FDP.TYPE_BOOL: {"type": "boolean"},
    FDP.TYPE_INT32: INT32, FDP.TYPE_SINT32: INT32, FDP.TYPE_SFIXED32: INT32,
    FDP.TYPE_UINT32: UINT32, FDP.TYPE_FIXED32: UINT32,
    # The proto3 JSON mapping prints 64-bit integers as strings.
    **{t: {"type": "string", "format": "int64", "pattern": r"^-?[0-9]+$"}
       for t in (FDP.TYPE_INT64, FDP.TYPE_SINT64, FDP.TYPE_SFIXED64)},
    **{t: {"type": "string", "format": "uint64", "pattern": r"^[0-9]+$"} for t in (FDP.TYPE_UINT64, FDP.TYPE_FIXED64)},
    FDP.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FDP.TYPE_FLOAT: {"type": "number", "format": "float"},
}
SECURITY_SCHEMES: dict[str, Schema] = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <key>`"},
    "basic": {"type": "http", "scheme": "basic",
              "description": "`Authorization: Basic base64(api:<key>)`: user name `api`, the key as password"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "`X-API-Key: <key>`"},
    "authToken": {"type": "apiKey", "in": "header", "name": "x-auth-token",
                  "description": "`X-Auth-Token: <key>` (Rocket.Chat's route also needs `X-User-Id`)"},
    "userKey": {"type": "apiKey", "in": "header", "name": "x-user-key", "description": "`X-User-Key: <key>`"},
}
STATUS_REF: Schema = {"$ref": "#/components/schemas/google.rpc.Status"}


@dataclass
class Route:
    """One ``google.api.http`` binding of one method."""

    service: descriptor_pb2.ServiceDescriptorProto
    method: descriptor_pb2.MethodDescriptorProto
    package: str
    verb: str
    template: str
    body: str
    comment: str
    variables: list[str] = field(default_factory=list)
    #: Variables whose pattern is a literal (``{endpoint=Schemas}``): written into the path as that literal.
    fixed: list[str] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.package}.{self.service.name}.{self.method.name}"


class Descriptors:
    """The messages, enums and comments of a descriptor set, by full name."""

    def __init__(self, fds: descriptor_pb2.FileDescriptorSet) -> None:
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        self.comments: dict[tuple[str, ...], str] = {}
        self.files = list(fds.file)
        for f in fds.file:
            locations = {tuple(loc.path): loc.leading_comments for loc in f.source_code_info.location}

            def walk(prefix: str, messages: Any, path: tuple[int, ...],
                     locations: dict[tuple[int, ...], str] = locations) -> None:
                for i, m in enumerate(messages):
                    name = f"{prefix}.{m.name}"
                    self.messages[name] = m
                    mpath = (*path, 3, i) if path else (4, i)
                    self._comment(("message", name), locations, mpath)
                    for j, fd in enumerate(m.field):
                        self._comment(("field", name, fd.name), locations, (*mpath, 2, j))
                    for j, e in enumerate(m.enum_type):
                        self.enums[f"{name}.{e.name}"] = e
                        self._comment(("enum", f"{name}.{e.name}"), locations, (*mpath, 4, j))
                    walk(name, m.nested_type, mpath)

            walk(f".{f.package}" if f.package else "", f.message_type, ())
            for i, e in enumerate(f.enum_type):
                name = f".{f.package}.{e.name}"
                self.enums[name] = e
                self._comment(("enum", name), locations, (5, i))
            for i, s in enumerate(f.service):
                self._comment(("service", f"{f.package}.{s.name}"), locations, (6, i))
                for j, m in enumerate(s.method):
                    self._comment(("method", f"{f.package}.{s.name}.{m.name}"), locations, (6, i, 2, j))

    def _comment(self, key: tuple[str, ...], locations: dict[tuple[int, ...], str], path: tuple[int, ...]) -> None:
        if locations.get(path):
            self.comments[key] = " ".join(line.strip() for line in locations[path].strip().splitlines())

    def comment(self, *key: str) -> str:
        return self.comments.get(key, "")

    def routes(self) -> list[Route]:
        out = []
        for f in self.files:
            for s in f.service:
                for m in s.method:
                    rule = m.options.Extensions[annotations_pb2.http]
                    if not rule.ListFields():
                        continue
                    for binding in (rule, *rule.additional_bindings):
                        verb, template = pattern(binding)
                        out.append(Route(s, m, f.package, verb, template, binding.body,
                                         self.comment("method", f"{f.package}.{s.name}.{m.name}")))
        return out


def pattern(rule: http_pb2.HttpRule) -> tuple[str, str]:
    kind = rule.WhichOneof("pattern")
    if kind == "custom":
        return rule.custom.kind.lower(), rule.custom.path
    return str(kind), str(getattr(rule, str(kind)))


def behaviors(fd: descriptor_pb2.FieldDescriptorProto) -> set[int]:
    return set(fd.options.Extensions[field_behavior_pb2.field_behavior])


def component_name(full_name: str) -> str:
    name = full_name.lstrip(".")
    return name.removeprefix(OUR_PACKAGE + ".")


class Generator:
    """Builds the document; ``schemas`` collects the components it refers to."""

    def __init__(self, descriptors: Descriptors) -> None:
        self.d = descriptors
        self.schemas: dict[str, Schema] = {}
        #: Messages (full names) that some request body holds, directly or nested.
        self.in_requests: set[str] = set()
        #: (message, rendered) -> its component's name.
        self.names: dict[tuple[str, bool], str] = {}
        self.operation_ids: Counter[str] = Counter()

    # ---- schemas ---------------------------------------------------------------------------------
    def ref(self, type_name: str, *, rendered: bool = False) -> Schema:
        """A schema for a message or enum type. ``rendered``: the JSON a seed adapter writes itself
        (``service.compat.common.render``), where a field with presence that is unset may be ``null``."""
        if type_name.lstrip(".") in WELL_KNOWN:
            return dict(WELL_KNOWN[type_name.lstrip(".")])
        if type_name in self.d.enums:
            name = component_name(type_name)
            if name not in self.schemas:
                enum = self.d.enums[type_name]
                self.schemas[name] = {"type": "string", "enum": [v.name for v in enum.value],
                                      **self.describe(self.d.comment("enum", type_name))}
            return {"$ref": f"#/components/schemas/{name}"}
        # A message both in a request and in a seed's rendered reply (or in a transcoded reply) gets two
        # components: the rendered one is "<name>Reply".
        known = self.names.get((type_name, rendered))
        if known is None:
            name = component_name(type_name)
            if rendered and (type_name in self.in_requests or (type_name, False) in self.names):
                name += "Reply"
            while name in self.schemas:  # the other variant was named first
                name += "Transcoded" if not rendered else "Reply"
            self.names[(type_name, rendered)] = name
            self.schemas[name] = {}  # placeholder: recursion
            self.schemas[name] = self.message(type_name, rendered=rendered)
            known = name
        return {"$ref": f"#/components/schemas/{known}"}

    def message(self, type_name: str, *, rendered: bool = False, skip: frozenset[str] = frozenset()) -> Schema:
        msg = self.d.messages[type_name]
        properties: dict[str, Schema] = {}
        required = []
        for fd in msg.field:
            if fd.name in skip:
                continue
            schema = self.field(type_name, fd, rendered=rendered)
            properties[fd.json_name] = schema
            if field_behavior_pb2.REQUIRED in behaviors(fd):
                required.append(fd.json_name)
        out: Schema = {"type": "object", **self.describe(self.d.comment("message", type_name)),
                       "properties": properties}
        if required:
            out["required"] = required
        return out

    def value_schema(self, fd: descriptor_pb2.FieldDescriptorProto, *, rendered: bool) -> Schema:
        if fd.type in (FDP.TYPE_MESSAGE, FDP.TYPE_ENUM):
            return self.ref(fd.type_name, rendered=rendered)
        return dict(SCALARS[fd.type])

    def field(self, owner: str, fd: descriptor_pb2.FieldDescriptorProto, *, rendered: bool = False) -> Schema:
        entry = self.map_entry(fd)
        if entry is not None:
            schema: Schema = {"type": "object",
                              "additionalProperties": self.value_schema(entry.field[1], rendered=rendered)}
        elif fd.label == FDP.LABEL_REPEATED:
            schema = {"type": "array", "items": self.value_schema(fd, rendered=rendered)}
        else:
            schema = self.value_schema(fd, rendered=rendered)
            has_presence = fd.proto3_optional or fd.type == FDP.TYPE_MESSAGE
            if rendered and has_presence and fd.type_name.lstrip(".") != "google.protobuf.Value":
                schema = {"anyOf": [schema, {"type": "null"}]} if "$ref" in schema else nullable(schema)
        kinds = behaviors(fd)
        text = self.d.comment("field", owner, fd.name)
        schema.update(self.describe(text))
        if field_behavior_pb2.OUTPUT_ONLY in kinds:
            schema["readOnly"] = True
        if field_behavior_pb2.INPUT_ONLY in kinds:
            schema["writeOnly"] = True
        access: int = fd.options.Extensions[field_access_pb2.field_access]  # type: ignore[index]
        if access:
            schema["x-field-access"] = field_access_pb2.FieldAccess.Name(access)
        return schema

    def map_entry(self, fd: descriptor_pb2.FieldDescriptorProto) -> descriptor_pb2.DescriptorProto | None:
        if fd.type != FDP.TYPE_MESSAGE or fd.label != FDP.LABEL_REPEATED:
            return None
        msg = self.d.messages.get(fd.type_name)
        return msg if msg is not None and msg.options.map_entry else None

    @staticmethod
    def describe(text: str) -> Schema:
        return {"description": text} if text else {}

    # ---- operations ------------------------------------------------------------------------------
    def leaves(self, type_name: str, prefix: str = "", json_prefix: str = "",
               depth: int = 0) -> list[tuple[str, str, descriptor_pb2.FieldDescriptorProto, str]]:
        """(proto path, JSON path, field, owner) of every field a query parameter can set."""
        out = []
        for fd in self.d.messages[type_name].field:
            path, jpath = prefix + fd.name, json_prefix + fd.json_name
            nested = (fd.type == FDP.TYPE_MESSAGE and fd.label != FDP.LABEL_REPEATED
                      and fd.type_name.lstrip(".") not in WELL_KNOWN)
            if fd.type_name == ".google.api.HttpBody":
                continue  # a raw body: never query parameters
            if nested and depth < 3:
                out += self.leaves(fd.type_name, path + ".", jpath + ".", depth + 1)
            elif self.map_entry(fd) is None and not (fd.type == FDP.TYPE_MESSAGE and fd.label == FDP.LABEL_REPEATED):
                out.append((path, jpath, fd, type_name))
        return out

    def operation(self, route: Route, names: dict[str, str]) -> Schema:
        m = route.method
        op_id = f"{route.service.name}_{m.name}"
        self.operation_ids[op_id] += 1  # a method with additional bindings: one id per binding, numbered
        if self.operation_ids[op_id] > 1:
            op_id = f"{op_id}_{self.operation_ids[op_id]}"
        op: Schema = {"operationId": op_id, "summary": m.name, "tags": [route.service.name]}
        op.update(self.describe(route.comment))
        params: list[Schema] = []
        for var in route.variables:
            fd, owner = self.resolve(m.input_type, var)
            schema = self.value_schema(fd, rendered=False)
            if schema.get("type") == "string":
                schema["minLength"] = 1
            params.append({"name": names[var], "in": "path", "required": True, "schema": schema,
                           **self.describe(self.d.comment("field", owner, fd.name))})
        bound = set(route.variables) | set(route.fixed)
        body_fields: set[str] = set()
        if route.body == "*":
            body_fields = {fd.name for fd in self.d.messages[m.input_type].field} - {v.split(".")[0] for v in bound}
        elif route.body:
            body_fields = {route.body}
        if route.body != "*":
            for path, jpath, fd, owner in self.leaves(m.input_type):
                if path in bound or path.split(".")[0] in body_fields:
                    continue
                schema = (self.field(owner, fd) if fd.label != FDP.LABEL_REPEATED
                          else {"type": "array", "items": self.value_schema(fd, rendered=False)})
                desc = schema.pop("description", "")
                for key in ("readOnly", "writeOnly", "x-field-access"):
                    schema.pop(key, None)
                params.append({"name": jpath, "in": "query", "schema": schema, **self.describe(desc),
                               **({"style": "form", "explode": True} if schema.get("type") == "array" else {})})
        if self.takes_if_match(route):
            params.append({"name": "If-Match", "in": "header", "schema": {"type": "string"},
                           "description": "Write only if this is the user's current etag (`*`: any; a "
                                          "comma-separated list: any of them). A mismatch is 409 ETAG_MISMATCH."})
        if route.service.name == "RocketChatCompatService":
            params.append({"name": "X-User-Id", "in": "header", "required": True, "schema": {"type": "string"},
                           "description": "The acting user: a `user` key's own user; any user of the tenant for "
                                          "an admin key."})
        if params:
            op["parameters"] = params
        if route.body:
            op["requestBody"] = {"content": {"application/json": {"schema": self.body(route)}}}
            if self.body_required(route):
                op["requestBody"]["required"] = True
        op["responses"] = self.responses(route)
        return op

    def resolve(self, type_name: str, path: str) -> tuple[descriptor_pb2.FieldDescriptorProto, str]:
        owner = type_name
        parts = path.split(".")
        for i, part in enumerate(parts):
            fd = next(f for f in self.d.messages[owner].field if f.name == part)
            if i == len(parts) - 1:
                return fd, owner
            owner = fd.type_name
        raise KeyError(path)

    def body(self, route: Route) -> Schema:
        m = route.method
        if route.body == "*":
            skip = frozenset(v for v in route.variables if "." not in v)
            schema = self.message(m.input_type, skip=skip)
            if "required" in schema:
                schema["required"] = [r for r in schema["required"]
                                      if any(fd.json_name == r and fd.name not in skip
                                             for fd in self.d.messages[m.input_type].field)]
                if not schema["required"]:
                    del schema["required"]
            return schema
        fd, _ = self.resolve(m.input_type, route.body)
        return self.value_schema(fd, rendered=False)

    def body_required(self, route: Route) -> bool:
        """Envoy transcodes a request without a body as an empty message: the body is required only where
        that empty message lacks a REQUIRED field the path does not fill (and the server refuses it)."""
        fields = self.d.messages[route.method.input_type].field
        names = [route.body] if route.body != "*" else [fd.name for fd in fields]
        return any(fd.name in names and field_behavior_pb2.REQUIRED in behaviors(fd)
                   and not any(v == fd.name or v.startswith(fd.name + ".") for v in route.variables)
                   for fd in fields)

    def takes_if_match(self, route: Route) -> bool:
        """Writes of one named user honour If-Match (docs/api.md "Etags")."""
        return route.verb != "get" and bool(route.variables) and route.full_name not in NO_IF_MATCH

    def answers_page(self, route: Route) -> bool:
        out = self.d.messages.get(route.method.output_type)
        return out is not None and any(fd.label == FDP.LABEL_REPEATED and fd.type == FDP.TYPE_MESSAGE
                                       and self.map_entry(fd) is None for fd in out.field)

    def responses(self, route: Route) -> Schema:
        m = route.method
        http_body = m.output_type == ".google.api.HttpBody"
        if http_body:
            if route.full_name not in HTTP_BODY_REPLIES:
                raise SystemExit(f"{route.full_name} answers google.api.HttpBody: add its reply messages to "
                                 "HTTP_BODY_REPLIES in build/openapi.py")
            reply = HTTP_BODY_REPLIES[route.full_name]
            ok_name, error_name, content_type = reply.ok, reply.error, reply.content_type
            ok_status, more = reply.ok_status, reply.more
            if ok_name in EXTRA_SCHEMAS:
                self.schemas.setdefault(ok_name, EXTRA_SCHEMAS[ok_name])
                ok: Schema = {"$ref": f"#/components/schemas/{ok_name}"}
            else:
                ok = self.ref(f".{route.package}.{ok_name}", rendered=True)
            if error_name in EXTRA_SCHEMAS:
                self.schemas.setdefault(error_name, EXTRA_SCHEMAS[error_name])
                for name in re.findall(r"#/components/schemas/([\w.]+)", json.dumps(EXTRA_SCHEMAS[error_name])):
                    self.ref(f".{route.package}.{name}", rendered=True)
                seed_error: Schema = {"$ref": f"#/components/schemas/{error_name}"}
            else:
                seed_error = self.ref(f".{route.package}.{error_name}", rendered=True)
            # Envoy's own refusals (bad JSON, unknown query parameter, a body too large) are Status JSON.
            error_content = ({content_type: {"schema": {"anyOf": [seed_error, STATUS_REF]}}}
                             if content_type == "application/json" else
                             {content_type: {"schema": seed_error}, "application/json": {"schema": STATUS_REF}})
        else:
            ok, content_type = self.ref(m.output_type), "application/json"
            error_content = {"application/json": {"schema": STATUS_REF}}
            ok_status, more = 200, ()
        success: Schema = {"description": STATUS_TEXT[ok_status]}
        if ok_status != 204:
            success["content"] = {content_type: {"schema": ok}}
        if not self.answers_page(route) and ok_status < 300:
            success["headers"] = {"ETag": {"$ref": "#/components/headers/ETag"}}
        codes = [400, 401, 403, 404]
        if route.verb != "get":
            codes.append(409)
        if route.body:
            codes.append(413)
        if route.verb != "get":
            codes.append(429)
        codes.append(503)
        out: Schema = {str(ok_status): success}
        for code in sorted({*codes, *more} - {ok_status}):
            out[str(code)] = ({"description": STATUS_TEXT[code]} if code == 304
                              else {"description": STATUS_TEXT[code], "content": error_content})
        return out

    # ---- the document ----------------------------------------------------------------------------
    def document(self) -> Schema:
        routes = self.d.routes()
        for r in routes:
            r.fixed = re.findall(r"\{([^}=]+)=[^}*]+\}", r.template)
            r.template = re.sub(r"\{[^}=]+=([^}*]+)\}", r"\1", r.template)
            r.variables = re.findall(r"\{([^}=]+)(?:=[^}]*)?\}", r.template)
            if r.body == "*":
                self.reach(r.method.input_type)
            elif r.body:
                fd, _ = self.resolve(r.method.input_type, r.body)
                if fd.type == FDP.TYPE_MESSAGE:
                    self.reach(fd.type_name)
        shapes: dict[str, list[Route]] = defaultdict(list)
        for r in routes:
            shapes[shape(r.template)].append(r)
        paths: dict[str, Schema] = {}
        tags: dict[str, Schema] = {}
        for key in sorted(shapes):
            group = shapes[key]
            positions = len(group[0].variables)
            chosen = []
            for i in range(positions):
                counts = Counter(r.variables[i] for r in group)
                chosen.append(min(counts, key=lambda n, c=counts: (-c[n], len(n), n)))  # type: ignore[misc]
            item: Schema = {}
            for r in group:
                names = dict(zip(r.variables, chosen, strict=True))
                if r.verb in item:
                    raise SystemExit(f"two routes for {r.verb.upper()} {key}: {r.full_name} and another")
                item[r.verb] = self.operation(r, names)
                tag = r.service.name
                tags.setdefault(tag, {"name": tag, **self.describe(self.d.comment("service",
                                                                                  f"{r.package}.{tag}"))})
            template = key
            for n in chosen:
                template = template.replace("{}", "{" + n + "}", 1)
            paths[template] = item
        ordered_tags = sorted(tags.values(), key=lambda t: (t["name"] != "UserService", t["name"]))
        self.schemas.update(self.status_schemas())
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "userservice",
                "version": "v1",
                "summary": "Read and update the users of a tenant over REST (Envoy's gRPC-JSON transcoder).",
                "description": "Generated by `make generate` (build/openapi.py) from the descriptor set of "
                               "`proto/userservice/v1/`. Every route is a `google.api.http` rule; the rules "
                               "are in docs/api.md. Fields that are neither in the path nor in the body are "
                               "query parameters with their JSON names (`updateMask=displayName,email`).",
                "license": {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"},
            },
            "servers": [{"url": "/", "description": "the Envoy port of the service serving this document"}],
            "security": [{name: []} for name in SECURITY_SCHEMES],
            "tags": ordered_tags,
            "paths": paths,
            "components": {
                "schemas": dict(sorted(self.schemas.items())),
                "headers": {"ETag": {"description": "The user's current etag, quoted; send it back as If-Match.",
                                     "required": True, "schema": {"type": "string"}}},
                "securitySchemes": SECURITY_SCHEMES,
            },
        }

    def reach(self, type_name: str) -> None:
        """Mark ``type_name`` and every message it holds as part of a request."""
        if type_name in self.in_requests or type_name not in self.d.messages:
            return
        self.in_requests.add(type_name)
        for fd in self.d.messages[type_name].field:
            if fd.type == FDP.TYPE_MESSAGE:
                self.reach(fd.type_name)

    def status_schemas(self) -> dict[str, Schema]:
        bad = self.ref(".google.rpc.BadRequest")
        info = self.ref(".google.rpc.ErrorInfo")
        detail = {"type": "object", "properties": {"@type": {"type": "string"}}, "required": ["@type"]}
        return {"google.rpc.Status": {
            "type": "object",
            "description": "A gRPC status as JSON (google.rpc.Status). `details` carries a "
                           "`type.googleapis.com/google.rpc.BadRequest` (every bad field at once) and a "
                           "`type.googleapis.com/google.rpc.ErrorInfo` (a machine-readable `reason`).",
            "properties": {
                "code": {"type": "integer", "format": "int32", "description": "The gRPC code (3 INVALID_ARGUMENT...)."},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"anyOf": [
                    {"allOf": [detail, bad]}, {"allOf": [detail, info]}, detail]}},
            },
            "required": ["code", "message"],
        }}


def nullable(schema: Schema) -> Schema:
    out = dict(schema)
    out["type"] = [schema["type"], "null"]
    return out


def shape(template: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", template)


def main(argv: list[str]) -> int:
    source, out = Path(argv[1]), Path(argv[2])
    fds = descriptor_pb2.FileDescriptorSet.FromString(source.read_bytes())
    doc = Generator(Descriptors(fds)).document()
    out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
