"""generated/openapi.json describes every REST route as Envoy serves it (docs/api.md, "The OpenAPI document").

These read the committed document and the descriptor set it was made from; tests/test_generated.py checks
that it is what `make generate` makes, tests/test_openapi_fuzz.py that the live service answers as it says.
"""

from __future__ import annotations

import json
import re
from typing import Any

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from tests.support import ROOT

DOC: dict[str, Any] = json.loads((ROOT / "generated" / "openapi.json").read_text())
FDS = descriptor_pb2.FileDescriptorSet.FromString((ROOT / "generated" / "userservice.pb").read_bytes())
VERBS = ("get", "put", "post", "delete", "patch")


def rules() -> list[tuple[str, str, str, str]]:
    """(service, method, verb, template) of every google.api.http rule in the descriptor set."""
    out = []
    for f in FDS.file:
        for s in f.service:
            for m in s.method:
                rule = m.options.Extensions[annotations_pb2.http]
                for binding in (rule, *rule.additional_bindings):
                    kind = binding.WhichOneof("pattern")
                    if kind in VERBS:
                        out.append((s.name, m.name, str(kind), getattr(binding, str(kind))))
    return out


def shape(template: str) -> str:
    """A path with its variables blanked; a variable bound to a literal (``{endpoint=Schemas}``) is that literal."""
    return re.sub(r"\{[^}]*\}", "{}", re.sub(r"\{[^}=]+=([^}*]+)\}", r"\1", template))


def operation(operation_id: str) -> dict[str, Any]:
    found = [op for item in DOC["paths"].values() for verb, op in item.items() if op["operationId"] == operation_id]
    assert len(found) == 1, operation_id
    return found[0]


def schema(name: str) -> dict[str, Any]:
    return DOC["components"]["schemas"][name]  # type: ignore[no-any-return]


def test_every_http_rule_of_every_service_is_one_operation_at_its_path_and_verb() -> None:
    by_shape = {shape(path): item for path, item in DOC["paths"].items()}
    found = rules()
    assert len(found) >= 15 and {s for s, *_ in found} >= {"UserService", "UserKitCompatService"}
    for service, method, verb, template in found:
        op = by_shape[shape(template)][verb]
        # A method with additional bindings has one operation per binding: the first is Service_Method,
        # the next Service_Method_2...
        assert re.fullmatch(f"{service}_{method}(_[0-9]+)?", op["operationId"]) and op["summary"] == method
    ids = [op["operationId"] for item in DOC["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) == len(found)


def test_no_two_paths_differ_only_in_parameter_names() -> None:
    shapes = [shape(p) for p in DOC["paths"]]
    assert len(shapes) == len(set(shapes))
    # /v1/users/{id}, {user_id} (UserKit, userdocks) and {user.id} (UpdateUser) are one path item.
    assert set(DOC["paths"]["/v1/users/{id}"]) == {"get", "patch", "delete", "post", "put"}


def test_update_user_takes_every_non_path_non_body_field_as_a_camel_case_query_parameter() -> None:
    op = operation("UserService_UpdateUser")
    params = {(p["in"], p["name"]): p for p in op["parameters"]}
    assert set(params) == {("path", "id"), ("query", "updateMask"), ("query", "validateOnly"),
                           ("query", "requestId"), ("header", "If-Match")}
    assert params[("query", "updateMask")]["schema"]["type"] == "string"  # FieldMask: comma-separated paths
    assert params[("query", "validateOnly")]["schema"]["type"] == "boolean"
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/User"}
    assert op["responses"]["200"]["headers"]["ETag"] == {"$ref": "#/components/headers/ETag"}
    delete = {(p["in"], p["name"]) for p in operation("UserService_DeleteUser")["parameters"]}
    assert delete == {("path", "id"), ("query", "etag"), ("query", "requestId"), ("header", "If-Match")}


def test_field_behavior_and_field_access_become_schema_keywords() -> None:
    user = schema("User")
    props = user["properties"]
    assert props["id"]["readOnly"] is True and props["createTime"]["readOnly"] is True  # OUTPUT_ONLY
    assert props["password"]["writeOnly"] is True  # INPUT_ONLY
    assert user["required"] == ["username"]  # REQUIRED
    assert props["emailVerified"]["x-field-access"] == "FIELD_ACCESS_ADMIN_ONLY"
    assert props["displayName"]["x-field-access"] == "FIELD_ACCESS_SELF_SERVICE"
    assert props["createTime"]["format"] == "date-time" and props["createTime"]["type"] == "string"
    assert props["state"]["$ref"] == "#/components/schemas/User.State"
    assert schema("User.State")["enum"] == ["STATE_UNSPECIFIED", "ACTIVE", "LOCKED", "DELETED"]
    assert props["attributes"] == {**props["attributes"], "type": "object",
                                   "additionalProperties": {"type": "string"}}
    assert schema("UserChange")["properties"]["sequence"]["type"] == "string"  # int64 in the JSON mapping
    assert props["displayName"]["description"].startswith("Optional. The name to show")  # from the comment


def test_every_operation_answers_errors_as_google_rpc_status_with_its_details() -> None:
    status = schema("google.rpc.Status")
    details = json.dumps(status["properties"]["details"])
    assert "google.rpc.BadRequest" in details and "google.rpc.ErrorInfo" in details
    for item in DOC["paths"].values():
        for verb, op in item.items():
            codes = set(op["responses"])
            success = next(iter(op["responses"]))  # 200; 201 or 204 on SCIM's create and delete; 405 on its refusals
            assert success in {"200", "201", "204", "405"}
            assert {"400", "401", "403", "404", "503"} <= codes | {success}
            assert ("409" in codes) == (verb != "get")
            assert ("413" in codes) == ("requestBody" in op)
            for code in codes - {success, "304"}:
                assert "google.rpc.Status" in json.dumps(op["responses"][code]), (op["operationId"], code)


def test_security_schemes_are_every_accepted_credential() -> None:
    schemes = DOC["components"]["securitySchemes"]
    assert {(s["type"], s.get("scheme"), s.get("name")) for s in schemes.values()} == {
        ("http", "bearer", None), ("http", "basic", None), ("apiKey", None, "x-api-key"),
        ("apiKey", None, "x-auth-token"), ("apiKey", None, "x-user-key")}
    assert DOC["security"] == [{name: []} for name in schemes]


def test_routes_answering_http_body_are_described_by_the_json_their_adapter_writes() -> None:
    http_body = [(s.name, m.name) for f in FDS.file for s in f.service for m in s.method
                 if m.output_type == ".google.api.HttpBody"]
    assert len(http_body) >= 4
    for service, method in http_body:
        op = operation(f"{service}_{method}")
        text = json.dumps(op["responses"])
        success = op["responses"][next(iter(op["responses"]))]
        assert "HttpBody" not in text and '"data"' not in json.dumps(success)
        if "content" not in success:  # 204
            continue
        (content,) = success["content"].values()  # application/json, or SCIM's own type
        assert content["schema"]["$ref"].startswith("#/components/schemas/")
    userkit = operation("UserKitCompatService_UserKitUpdateUser")["responses"]
    assert userkit["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/UserKitUser"}
    assert schema("UserKitUser")["properties"]["email"]["type"] == ["string", "null"]  # written as null
    assert "UserKitErrorReply" in json.dumps(userkit["400"])
