"""Server reflection that also finds methods and enum values, so ``grpcurl describe`` works on them.

grpcio-reflection answers ``file_containing_symbol`` with the descriptor pool's
``FindFileContainingSymbol``. With protobuf 7 (the upb pool) that call finds services, messages,
fields and enums, but not a method (``userservice.v1.UserService.UpdateUser``) or an enum value
(``userservice.v1.User.State.ACTIVE``): reflection then answers NOT_FOUND and grpcurl prints "Symbol
not found". This subclass keeps the library's servicer for everything and, only when it answers
NOT_FOUND, finds the symbol through the descriptor that owns it: a method through its service
(``methods_by_name``), an enum value through its enum (``values_by_name``: grpcurl writes a value under its
enum's name, where protobuf scopes it beside the enum, which the pool already finds), a field or nested type through
its message. A symbol that no descriptor owns is still NOT_FOUND.

We override the library's ``_file_containing_symbol`` (the one hook it has for this request; its shape
is unchanged since grpcio-reflection 1.0) rather than re-implement the reflection stream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2 as pb

# grpcio-reflection ships no type hints; `aio` is in its __all__, under a version check mypy does not follow
_LibraryServicer: Any = reflection.aio.ReflectionServicer  # type: ignore[attr-defined]


class ReflectionServicer(_LibraryServicer):  # type: ignore[misc]
    """grpcio-reflection's asyncio servicer, with methods and enum values resolved through their parents."""

    def __init__(self, service_names: tuple[str, ...], pool: Any = None) -> None:
        super().__init__(service_names, pool=pool)
        self.descriptors = pool if pool is not None else descriptor_pool.Default()

    def _file_containing_symbol(self, request: pb.ServerReflectionRequest, symbol: str) -> Any:
        answer = super()._file_containing_symbol(request, symbol)
        if not answer.HasField("error_response"):
            return answer
        owner = self.owner_file(symbol)
        if owner is None:
            return answer
        return super()._file_by_filename(request, owner)

    def owner_file(self, symbol: str) -> str | None:
        """The file that defines ``symbol`` when it is a member (method, enum value, field) of a type, else None."""
        parent, _, name = symbol.rpartition(".")
        if not parent:
            return None
        pool = self.descriptors
        owners: list[tuple[Callable[[str], Any], Callable[[Any], bool]]] = [
            (pool.FindServiceByName, lambda d: name in d.methods_by_name),
            (pool.FindEnumTypeByName, lambda d: name in d.values_by_name),
            (pool.FindMessageTypeByName, lambda d: name in d.fields_by_name or name in d.enum_values_by_name
             or name in d.nested_types_by_name or name in d.enum_types_by_name or name in d.oneofs_by_name),
        ]
        for find, has in owners:
            try:
                descriptor = find(parent)
            except KeyError:
                continue
            if has(descriptor):
                return str(descriptor.file.name)
        return None


def enable(service_names: tuple[str, ...], server: grpc.aio.Server) -> None:
    """Serve reflection (v1alpha, what grpcurl asks for) for ``service_names`` on ``server``."""
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        ReflectionServicer(service_names), server)

