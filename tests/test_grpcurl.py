"""The debugging door: the real grpcurl binary, no proto files, on the gRPC port and through Envoy."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support import Service, grpcurl_binary

pytestmark = pytest.mark.process  # the real grpcurl binary, against the session's service


@pytest.fixture(params=["grpc", "envoy"])
def port(request: pytest.FixtureRequest, service: Service) -> int:
    return service.grpc_port if request.param == "grpc" else service.http_port  # type: ignore[return-value]


def test_list_and_describe_through_reflection(port: int) -> None:
    listed = subprocess.run([grpcurl_binary(), "-plaintext", "-max-time", "10", f"127.0.0.1:{port}", "list"],
                            capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0, listed.stderr
    assert "userservice.v1.UserService" in listed.stdout.split()
    described = subprocess.run([grpcurl_binary(), "-plaintext", "-max-time", "10", f"127.0.0.1:{port}", "describe",
                                "userservice.v1.UserService"], capture_output=True, text=True, timeout=30)
    assert described.returncode == 0, described.stderr
    assert "rpc UpdateUser ( .userservice.v1.UpdateUserRequest ) returns ( .userservice.v1.User )" in described.stdout
    assert ".google.protobuf.FieldMask" in subprocess.run(
        [grpcurl_binary(), "-plaintext", "-max-time", "10", f"127.0.0.1:{port}", "describe",
         "userservice.v1.UpdateUserRequest"], capture_output=True, text=True, timeout=30).stdout


@pytest.mark.parametrize(("symbol", "kind", "shown"), [
    ("userservice.v1.UserService", "a service", "rpc UpdateUser ( .userservice.v1.UpdateUserRequest )"),
    ("userservice.v1.UserService.UpdateUser", "a method",
     "rpc UpdateUser ( .userservice.v1.UpdateUserRequest ) returns ( .userservice.v1.User )"),
    ("grpc.health.v1.Health.Check", "a method", "rpc Check ( .grpc.health.v1.HealthCheckRequest )"),
    ("userservice.v1.UpdateUserRequest", "a message", ".google.protobuf.FieldMask update_mask = 2"),
    ("userservice.v1.User.email", "a field", "optional string email = 3"),
    ("userservice.v1.User.State", "an enum", "ACTIVE = 1;"),
    ("userservice.v1.User.State.ACTIVE", "an enum value", "ACTIVE = 1;"),
])
def test_describe_finds_services_methods_messages_fields_and_enums(port: int, symbol: str, kind: str,
                                                                   shown: str) -> None:
    out = subprocess.run([grpcurl_binary(), "-plaintext", "-max-time", "10", f"127.0.0.1:{port}", "describe", symbol],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{symbol} is {kind}:\n")
    assert shown in out.stdout


def test_describe_of_a_method_that_does_not_exist_fails(port: int) -> None:
    out = subprocess.run([grpcurl_binary(), "-plaintext", "-max-time", "10", f"127.0.0.1:{port}", "describe",
                          "userservice.v1.UserService.NoSuchMethod"], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "Symbol not found: userservice.v1.UserService.NoSuchMethod" in out.stderr


def test_health_is_serving(port: int) -> None:
    out = subprocess.run([grpcurl_binary(), "-plaintext", "-max-time", "10", f"127.0.0.1:{port}",
                          "grpc.health.v1.Health/Check"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "SERVING"


def test_update_user_with_paths_and_a_bad_request_shown(port: int, service: Service, admin_key: str) -> None:
    u = service.create(admin_key)
    base = [grpcurl_binary(), "-plaintext", "-max-time", "10", "-H", f"authorization: Bearer {admin_key}",
            "-format-error"]
    ok = subprocess.run([*base, "-d", json.dumps({"user": {"id": u.id, "nickname": "from-grpcurl"},
                                                 "update_mask": {"paths": ["nickname"]}}),
                         f"127.0.0.1:{port}", "userservice.v1.UserService/UpdateUser"],
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["nickname"] == "from-grpcurl"
    bad = subprocess.run([*base, "-d", json.dumps({"user": {"id": u.id, "email": "nope"},
                                                  "update_mask": {"paths": ["email"]}}),
                          f"127.0.0.1:{port}", "userservice.v1.UserService/UpdateUser"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0
    error = json.loads(bad.stderr)
    assert error["code"] == 3
    details = error["details"]
    assert details[0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert details[0]["field_violations"][0]["field"] == "email"
