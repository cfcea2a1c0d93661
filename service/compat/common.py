"""What every seed adapter shares: building the canonical update, renaming errors, HttpBody replies.

An adapter turns its seed's request into a canonical ``User`` plus the list of canonical paths
the seed's JSON named (an ``Edit``), calls ``UserService.update`` (the one update path), and turns
the canonical user or the ``ServiceError`` into the seed's reply. Seeds that document their own
error JSON answer with a ``google.api.HttpBody`` and the HTTP status in the ``x-http-status``
initial metadata, which Envoy's Lua filter (envoy.yaml) makes the status of the REST reply.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.api import httpbody_pb2
from google.protobuf import field_mask_pb2, json_format, timestamp_pb2
from google.protobuf.message import Message
from userservice.v1 import user_pb2, user_service_pb2

from service.auth import Authenticator, Principal
from service.context import call_metadata
from service.errors import InvalidArgument, PermissionDenied, ServiceError, Violation
from service.users.servicer import PasswordRule, UserService
from service.users.servicer import transcoded as transcoded  # the adapters ask it here

User = user_pb2.User
Context = grpc.aio.ServicerContext[Any, Any]
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409, grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.UNAVAILABLE: 503,
}


@dataclass
class Edit:
    """A canonical update under construction: the new values, the paths, and the seed's own refusals."""

    user: User = field(default_factory=User)
    paths: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)

    def text(self, path: str, value: str | None) -> None:
        """A string field the seed sent: written if present, and an empty string clears it."""
        if value is None:
            return
        self.paths.append(path)
        if value:
            setattr(self.user, path, value)

    def flag(self, path: str, value: bool | None) -> None:
        if value is not None:
            self.paths.append(path)
            setattr(self.user, path, value)

    def attribute(self, key: str, value: str | None) -> None:
        """One ``attributes`` key: written if present; an empty string removes the key."""
        if value is None:
            return
        self.paths.append(f"attributes.{key}")
        if value:
            self.user.attributes[key] = value

    def refuse(self, field_name: str, description: str) -> None:
        self.violations.append(Violation(field_name, description))


def given(message: Message, name: str) -> Any:
    """The value of an ``optional`` field the seed sent, or None when it left the field out."""
    return getattr(message, name) if message.HasField(name) else None


def metadata(context: Context) -> dict[str, str]:
    return {k: v for k, v in call_metadata(context) if isinstance(v, str)}



def authenticate(auth: Authenticator, context: Context) -> Principal:
    return auth.authenticate(call_metadata(context))


async def apply(users: UserService, who: Principal, user_id: str, edit: Edit, context: Context, *,
                method: str, password_rule: PasswordRule | None = None, state: int | None = None) -> User:
    """Run ``edit`` (and a ``state`` change, seed 004's) through the canonical update, as one command. The
    seed's own refusals are reported together with every canonical violation of the rest, at once."""
    edit.user.id = user_id
    request = user_service_pb2.UpdateUserRequest(user=edit.user,
                                                 update_mask=field_mask_pb2.FieldMask(paths=edit.paths))
    return await users.update(who, request, etag=metadata(context).get("if-match", ""), method=method,
                              password_rule=password_rule, state=state, refusals=tuple(edit.violations))


def rename(err: ServiceError, name: Callable[[str], str]) -> ServiceError:
    """The same error with its field names (violations, ``paths``/``field`` metadata) in the seed's words."""
    err.violations = [Violation(name(v.field), v.description) for v in err.violations]
    for key in ("paths", "field"):
        if key in err.metadata:
            err.metadata[key] = ",".join(name(p) for p in err.metadata[key].split(","))
    if isinstance(err, InvalidArgument):
        err.message = "invalid request: " + "; ".join(f"{v.field}: {v.description}" for v in err.violations)
    return err


def renamer(names: Mapping[str, str], prefix: str = "", attributes: str | None = None) -> Callable[[str], str]:
    """Canonical path -> seed field: ``names`` maps whole paths or top-level fields; ``attributes.k``
    becomes ``<attributes>.k`` when the seed has a custom-field map, else ``names`` decides."""

    def name(path: str) -> str:
        if path in names:
            return prefix + names[path]
        top, _, rest = path.partition(".")
        if top == "attributes" and attributes is not None and rest:
            return f"{prefix}{attributes}.{rest}"
        if top in names:
            return prefix + names[top] + (f".{rest}" if rest else "")
        return prefix + path

    return name


def forbidden_paths(err: ServiceError) -> list[str]:
    paths = err.metadata.get("paths", "")
    return [p for p in paths.split(",") if p] if isinstance(err, PermissionDenied) else []


def http_status(err: ServiceError) -> int:
    return HTTP_STATUS.get(err.code, 500)


def render(message: Message, nulls: Iterable[str] = ()) -> dict[str, Any]:
    """The message as JSON (the seed's spellings are the proto's json_name), absent ``nulls`` as null."""
    out = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    for key in nulls:
        out.setdefault(key, None)
    return out


async def http_reply(context: Context, status: int, body: Any, etag: str = "") -> httpbody_pb2.HttpBody:
    """An HttpBody with JSON ``body``; ``status`` becomes the REST reply's HTTP status."""
    headers: list[tuple[str, str]] = [("x-http-status", str(status))]
    if etag:
        headers.append(("etag", etag))
    await context.send_initial_metadata(headers)
    return httpbody_pb2.HttpBody(content_type="application/json",
                                 data=json.dumps(body, ensure_ascii=False).encode())


def timestamp_seconds(user: User, name: str) -> float | None:
    if not user.HasField(name):
        return None
    ts: timestamp_pb2.Timestamp = getattr(user, name)
    return float(ts.seconds) + ts.nanos / 1e9


def rfc3339(user: User, name: str) -> str:
    return str(getattr(user, name).ToJsonString()) if user.HasField(name) else ""


def json_text(value: Any) -> str:
    """A JSON scalar as attribute text: strings as is, integral numbers without ``.0``, booleans lower-case."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value)


def paths_named(paths: Sequence[str], *names: str) -> bool:
    return any(p.split(".", 1)[0] in names for p in paths)
