"""Update-mask rules (AIP-134, AIP-161) and nothing else.

``plan`` turns a request's mask into the canonical list of paths to apply (deriving it from the
populated fields when empty, expanding ``*``, ignoring output-only paths, refusing unknown ones);
``apply`` writes those paths of the request's user onto the current user.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf import field_mask_pb2
from userservice.v1 import user_pb2

from service.errors import InvalidArgument, Violation
from service.users import fields
from service.users.fields import Kind
from service.users.rules import ATTRIBUTE_KEY

MAX_PATHS = 100


@dataclass(frozen=True, slots=True)
class Plan:
    """The paths an update applies, canonical and sorted, and the top-level fields they touch.

    ``scalars`` are the top-level singular scalar fields among them (with whether they have
    presence), which ``apply`` copies itself; ``merged`` are the other top-level paths, which
    go through protobuf's ``FieldMask.MergeMessage``.
    """

    paths: tuple[str, ...]
    fields: frozenset[str]
    scalars: tuple[tuple[str, bool], ...]
    merged: tuple[str, ...]

    def __reduce__(self) -> tuple[type[Plan], tuple[object, ...]]:
        """Pickled as its fields (it crosses to SQLite's writer process with every update)."""
        return Plan, (self.paths, self.fields, self.scalars, self.merged)


@functools.lru_cache(maxsize=1024)
def plan_of(paths: tuple[str, ...]) -> Plan:
    """The plan of canonical ``paths`` (a plan's own ``paths``): how a plan is rebuilt across processes."""
    return _make_plan(paths)


def _make_plan(paths: tuple[str, ...]) -> Plan:
    scalars, merged = [], []
    for path in paths:
        if "." in path:
            continue
        field = fields.field(path)
        if field.kind in (Kind.MESSAGE, Kind.MAP, Kind.LIST, Kind.TIME):
            merged.append(path)
        else:
            scalars.append((path, field.has_presence))
    return Plan(paths, frozenset(_top(p) for p in paths), tuple(scalars), tuple(merged))


def _top(path: str) -> str:
    return path.split(".", 1)[0]


def _normalize(path: str) -> str | Violation:
    """One path in proto-name form (camelCase accepted), or why it names no field."""
    head, dot, rest = path.partition(".")
    field = fields.BY_ANY_NAME.get(head)
    if field is None:
        return Violation("update_mask", f"{path!r} names no field of User")
    name = field.name
    if not dot:  # "attributes." names an empty key, not the whole map
        return name
    if field.kind is Kind.MESSAGE:
        subs = {**{f.json_name: f.name for f in field.descriptor.message_type.fields},
                **{f.name: f.name for f in field.descriptor.message_type.fields}}
        if rest in subs:
            return f"{name}.{subs[rest]}"
        return Violation("update_mask", f"{path!r} names no field of {field.descriptor.message_type.name}")
    if field.kind is Kind.MAP:
        key = rest[1:-1] if len(rest) > 1 and rest[0] == rest[-1] == "`" else rest
        if ATTRIBUTE_KEY.fullmatch(key):
            return f"{name}.{key}"
        return Violation("update_mask", f"{path!r}: a map key must match [A-Za-z][A-Za-z0-9_]{{0,63}}")
    return Violation("update_mask", f"{path!r}: {name} has no sub-fields")


def _populated(user: user_pb2.User) -> list[str]:
    """AIP-134: with no mask, the populated fields are the mask (recursing into address and map keys)."""
    paths: list[str] = []
    for descriptor, value in user.ListFields():
        kind = fields.field(descriptor.name).kind
        if kind is Kind.MESSAGE:
            paths.extend(f"{descriptor.name}.{f.name}" for f, _ in value.ListFields())
        elif kind is Kind.MAP:
            paths.extend(f"{descriptor.name}.{key}" for key in value)
        else:
            paths.append(descriptor.name)
    return paths


def plan(mask: Sequence[str], user: user_pb2.User, writable: frozenset[str] = fields.MUTABLE) -> Plan:
    """The canonical plan for ``mask`` applied with ``user``'s values.

    ``writable`` is what the caller may write: ``*`` expands to it (``password`` only when given).
    Output-only paths are dropped; the one IMMUTABLE field, ``id``, is also output only (and is the
    key the user is found by, so it can never differ). Raises ``InvalidArgument`` naming every bad path.
    """
    if not mask or "*" in mask:
        return _plan(mask, user, writable)
    return explicit_plan(tuple(mask))


@functools.lru_cache(maxsize=1024)
def explicit_plan(mask: tuple[str, ...]) -> Plan:
    """The plan of an explicit mask (no ``*``): it depends on the mask alone, so it is kept (bounded;
    a bad mask raises and is not kept)."""
    return _plan(mask, user_pb2.User(), fields.MUTABLE)


def _plan(mask: Sequence[str], user: user_pb2.User, writable: frozenset[str]) -> Plan:
    if len(mask) > MAX_PATHS:
        raise InvalidArgument([Violation("update_mask", f"at most {MAX_PATHS} paths, got {len(mask)}")])
    if "*" in mask:
        if len(mask) != 1:
            raise InvalidArgument([Violation("update_mask", "'*' must be the only path")])
        # A given password is always part of `*`, so a key that may not write it is refused, not ignored.
        raw = sorted((writable - {"password"}) | ({"password"} if user.HasField("password") else set()))
    else:
        raw = list(mask) if mask else _populated(user)
    paths: set[str] = set()
    violations: list[Violation] = []
    for p in raw:
        result = _normalize(p)
        if isinstance(result, Violation):
            violations.append(result)
            continue
        if _top(result) in fields.IGNORED_IN_MASK:
            continue
        paths.add(result)
    if violations:
        raise InvalidArgument(violations)
    canonical = field_mask_pb2.FieldMask()
    canonical.CanonicalFormFromMask(field_mask_pb2.FieldMask(paths=sorted(paths)))
    # CanonicalFormFromMask drops "attributes.x" under "attributes" and "address.x" under "address".
    final = tuple(canonical.paths)
    return _make_plan(final)


def apply(current: user_pb2.User, user: user_pb2.User, plan: Plan) -> user_pb2.User:
    """A copy of ``current`` with ``plan``'s paths taken from ``user`` (absent means cleared).

    Nested messages are replaced, repeated fields replaced whole, a masked map key absent from
    ``user`` is removed. Enums cleared to zero get their documented default. ``password`` is left
    on the result for the caller to hash and strip.
    """
    result = user_pb2.User()
    result.CopyFrom(current)
    # What MergeMessage does for a singular scalar: copy it, or clear it when it has presence and is unset.
    for name, has_presence in plan.scalars:
        if not has_presence or user.HasField(name):
            setattr(result, name, getattr(user, name))
        else:
            result.ClearField(name)
    if plan.merged:
        field_mask_pb2.FieldMask(paths=plan.merged).MergeMessage(
            user, result, replace_message_field=True, replace_repeated_field=True
        )
    for path in plan.paths:
        name, _, key = path.partition(".")
        kind = fields.field(name).kind
        if kind is Kind.MESSAGE and key:
            # MergeMessage leaves `address.locality` alone when the request has no address: clear it.
            source_message, target_message = getattr(user, name), getattr(result, name)
            if user.HasField(name):
                setattr(target_message, key, getattr(source_message, key))
            else:
                target_message.ClearField(key)
        elif kind is Kind.MAP and key:
            source, target = getattr(user, name), getattr(result, name)
            if key in source:
                target[key] = source[key]
            elif key in target:
                del target[key]
    fields.normalize(result)  # cleared flags read back false, a cleared enum takes its documented value
    for field in fields.FIELDS:  # a changed contact resets its flag, unless the request sets the flag too
        if field.resets and field.name in plan.fields and field.resets not in plan.fields and (
            getattr(result, field.name) != getattr(current, field.name)
        ):
            setattr(result, field.resets, False)
    return result
