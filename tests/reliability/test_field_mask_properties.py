"""Property tests of field masks: random users, random masks.

Whatever the mask, a field (an address part, a map key) outside it is unchanged byte for byte, in the
merged user and in the stored row; a path that names no field refuses the whole request. Runs in
process against ``service.users.masks`` and a temporary ``Store`` (the rules are ours; gRPC adds nothing here).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from userservice.v1 import user_pb2

from service.errors import InvalidArgument
from service.storage import Store
from service.users import fields
from service.users import masks as field_masks
from service.users.commands import Create
from service.users.fields import Kind
from service.users.update import Change
from tests import factories

User = user_pb2.User
SETTINGS = settings(max_examples=250, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
#: From the field table: the optional texts and the flags a mask may name.
STRINGS = tuple(f.name for f in fields.WRITABLE if f.kind is Kind.TEXT and f.has_presence)
BOOLS = tuple(f.name for f in fields.WRITABLE if f.kind is Kind.FLAG)
ADDRESS_PARTS = tuple(f.name for f in fields.ADDRESS.fields)
KEYS = ("a", "b", "twitter", "K_1")
#: Every path a mask may name (password aside: it is hashed, never stored as a field).
VALID_PATHS = tuple(sorted(
    {"username", *STRINGS, *BOOLS, "roles", "state", "auth_type", "address", "attributes"}
    | {f"address.{p}" for p in ADDRESS_PARTS} | {f"attributes.{k}" for k in KEYS}
    | {fields.field(n).json_name for n in ("display_name", "given_name", "phone_number")}
))
INVALID_PATHS = ("nope", "address.planet", "attributes.1bad", "attributes.", "username.first", "roles.x",
                 "", ".", "display_name.", "Display_Name", "user.email", "attributes.a.b")

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
counter = itertools.count()


@st.composite
def users(draw: st.DrawFn, *, stored: bool) -> User:
    """A random user; ``stored`` ones look like a row read back (bools present, enums set)."""
    user = User(username="u" + draw(text))
    for name in STRINGS:
        if draw(st.booleans()):
            setattr(user, name, draw(text))
    for name in BOOLS:
        if stored or draw(st.booleans()):
            setattr(user, name, draw(st.booleans()))
    parts = draw(st.dictionaries(st.sampled_from(ADDRESS_PARTS), text, max_size=3))
    if parts:
        user.address.CopyFrom(user_pb2.Address(**parts))
    user.attributes.update(draw(st.dictionaries(st.sampled_from(KEYS), text, max_size=4)))
    user.roles.extend(draw(st.lists(text, max_size=3)))
    if stored or draw(st.booleans()):
        user.state = draw(st.sampled_from([User.ACTIVE, User.LOCKED]))
        user.auth_type = draw(st.sampled_from([User.PASSWORD, User.TWO_FACTOR, User.ONE_TIME_PASSWORD]))
    return user


masks = st.lists(st.sampled_from(VALID_PATHS), max_size=6)


def one_field(user: User, name: str) -> bytes:
    """The wire bytes of one field of ``user`` (absent and empty differ where the field has presence)."""
    part = User()
    field = fields.USER.fields_by_name[name]
    if field.message_type is not None and not field.is_repeated:
        if user.HasField(name):
            getattr(part, name).CopyFrom(getattr(user, name))
    elif field.is_repeated:
        getattr(part, name).MergeFrom(getattr(user, name))
    elif not field.has_presence or user.HasField(name):
        setattr(part, name, getattr(user, name))
    return part.SerializeToString(deterministic=True)


def slots(before: User, after: User) -> Iterator[tuple[str, Any, Any]]:
    """Every independently maskable piece of two users: (path, value before, value after)."""
    for field in fields.USER.fields:
        if field.name not in ("address", "attributes"):
            yield field.name, one_field(before, field.name), one_field(after, field.name)
    for part in ADDRESS_PARTS:
        yield f"address.{part}", getattr(before.address, part), getattr(after.address, part)
    for key in sorted(set(before.attributes) | set(after.attributes)):
        yield f"attributes.{key}", before.attributes.get(key), after.attributes.get(key)


def masked(path: str, plan: field_masks.Plan) -> bool:
    top = path.split(".", 1)[0]
    return path in plan.paths or top in plan.paths


def coupled(path: str, plan: field_masks.Plan, before: User, after: User) -> bool:
    """CONTRACT 2: a changed e-mail (phone) resets its verified flag unless the mask sets it too."""
    for contact, verified in (("email", "email_verified"), ("phone_number", "phone_verified")):
        if path == verified and contact in plan.fields and getattr(before, contact) != getattr(after, contact):
            return True
    return False


@SETTINGS
@given(current=users(stored=True), request=users(stored=False), mask=masks)
def test_fields_outside_the_mask_are_unchanged_byte_for_byte(current: User, request: User, mask: list[str]) -> None:
    plan = field_masks.plan(mask, request)
    result = field_masks.apply(current, request, plan)
    for path, old, new in slots(current, result):
        if not masked(path, plan) and not coupled(path, plan, current, result):
            assert old == new, path
    for path in plan.paths:  # and what the mask names is the request's value
        if path in STRINGS or path == "username":
            assert getattr(result, path) == getattr(request, path), path
        elif path.startswith("attributes."):
            assert result.attributes.get(path[11:]) == request.attributes.get(path[11:]), path


def names_nothing(path: str) -> bool:
    top = path.split(".", 1)[0]
    return top not in fields.BY_ANY_NAME and top != "*"


@SETTINGS
@given(request=users(stored=False), valid=masks,
       invalid=st.lists(st.sampled_from(INVALID_PATHS) | text.filter(names_nothing), min_size=1, max_size=3),
       order=st.randoms(use_true_random=False))
def test_a_path_that_names_no_field_refuses_the_whole_request(request: User, valid: list[str], invalid: list[str],
                                                              order: Any) -> None:
    mask = valid + invalid
    order.shuffle(mask)
    with pytest.raises(InvalidArgument) as refused:
        field_masks.plan(mask, request)
    assert {v.field for v in refused.value.violations} == {"update_mask"}
    assert len(refused.value.violations) == len(invalid)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path: Path = tmp_path_factory.mktemp("masks") / "masks.db"
    db = Store(f"sqlite:///{path}")
    try:
        yield db
    finally:
        db.close()


def unique_fields(user: User, n: int) -> None:
    """Unique-indexed fields get a per-example prefix, so examples never collide with each other."""
    user.username = f"r{n}_{user.username}"
    for name in ("email", "external_id"):
        if user.HasField(name):
            setattr(user, name, f"r{n}_{getattr(user, name)}")


@dataclass(frozen=True)
class ApplyMask:
    """A write command that applies a mask and nothing else (no validation: random users are not valid)."""

    user_id: str
    request: User
    plan: field_masks.Plan
    tenant_id: int = 1
    key_id: str = "prop"
    method: str = "UpdateUser"
    request_id: str = ""
    validate_only: bool = False

    def execute(self, current: User, now: int) -> Change:
        changed = self.plan.fields | {f.resets for f in fields.FIELDS if f.resets and f.name in self.plan.fields}
        return Change(field_masks.apply(current, self.request, self.plan), self.plan.paths, frozenset(changed))


def raw_row(store: Store, user_id: str) -> dict[str, Any]:
    cursor = store.db.execute_sql("SELECT * FROM users WHERE id = ?", (user_id,))
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


@settings(SETTINGS, max_examples=120)
@given(current=users(stored=True), request=users(stored=False), mask=masks)
def test_stored_columns_outside_the_mask_are_unchanged_byte_for_byte(store: Store, current: User, request: User,
                                                                     mask: list[str]) -> None:
    n = next(counter)
    unique_fields(current, n)
    unique_fields(request, n)
    created = store.users.create(Create(factories.admin(), fields.as_stored(current), password_hash="x"))
    before, before_user = raw_row(store, created.id), store.users.get(1, created.id)
    plan = field_masks.plan(mask, request)
    updated = store.users.run(ApplyMask(created.id, request, plan))
    after = raw_row(store, created.id)
    allowed = {"etag", "update_time"}
    for name in plan.fields:
        allowed |= {column.name for column in fields.field(name).columns}
    if "email" in plan.fields:
        allowed.add("email_verified")
    if "phone_number" in plan.fields:
        allowed.add("phone_verified")
    for column, value in before.items():
        if column not in allowed:
            assert after[column] == value, column
    reread = store.users.get(1, created.id)
    assert reread.SerializeToString(deterministic=True) == updated.SerializeToString(deterministic=True)
    for path, old, new in slots(before_user, reread):
        if not masked(path, plan) and not coupled(path, plan, before_user, reread) and path not in allowed:
            assert old == new, path
