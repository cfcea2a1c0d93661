"""Mask rules in-process (AIP-134/161): plans, derived masks, and what apply writes."""

from __future__ import annotations

import pytest
from google.api import field_behavior_pb2
from userservice.v1 import user_pb2

from service.errors import InvalidArgument
from service.users import fields
from service.users import masks as field_masks

User = user_pb2.User


def test_no_mask_derives_nested_and_map_key_paths() -> None:
    request = User(id="usr_x", nickname="n", address=user_pb2.Address(locality="Paris"), attributes={"a": "1"},
                   etag="e")
    assert field_masks.plan([], request).paths == ("address.locality", "attributes.a", "nickname")


def test_paths_are_canonical_and_accept_json_names_and_backquoted_keys() -> None:
    plan = field_masks.plan(["displayName", "address", "address.postalCode", "attributes.`team`", "nickname",
                             "nickname"], User())
    assert plan.paths == ("address", "attributes.team", "display_name", "nickname")
    assert plan.fields == {"address", "attributes", "display_name", "nickname"}


def test_star_expands_to_the_writable_fields_and_password_only_if_given() -> None:
    assert "password" not in field_masks.plan(["*"], User()).fields
    assert "password" in field_masks.plan(["*"], User(password="x")).fields
    assert field_masks.plan(["*"], User(), writable=fields.SELF_SERVICE).fields == fields.SELF_SERVICE - {"password"}


@pytest.mark.parametrize("path", ["nope", "address.planet", "roles.0", "attributes.9", "attributes.a.b", "", "*.x"])
def test_paths_that_name_no_field_are_refused(path: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        field_masks.plan([path], User())
    assert [v.field for v in caught.value.violations] == ["update_mask"]


def test_more_than_100_paths_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        field_masks.plan(["nickname"] * 101, User())


def test_output_only_paths_are_dropped() -> None:
    assert field_masks.plan(["create_time", "id", "etag", "nickname"], User()).paths == ("nickname",)


def test_apply_clears_absent_masked_fields_and_keeps_the_rest() -> None:
    current = User(id="usr_x", username="u", nickname="n", display_name="d", attributes={"a": "1", "b": "2"},
                   address=user_pb2.Address(locality="Rome", country="IT"), state=User.LOCKED,
                   auth_type=User.TWO_FACTOR)
    plan = field_masks.plan(["nickname", "attributes.a", "address.locality", "state", "auth_type"], User())
    new = field_masks.apply(current, User(), plan)
    assert not new.HasField("nickname") and new.display_name == "d"
    assert dict(new.attributes) == {"b": "2"} and new.address.country == "IT" and new.address.locality == ""
    assert new.state == User.ACTIVE and new.auth_type == User.PASSWORD
    assert current.nickname == "n", "apply never changes its input"


def test_apply_resets_verification_when_the_contact_changes() -> None:
    current = User(email="a@x.io", email_verified=True, phone_number="+15550000001", phone_verified=True)
    new = field_masks.apply(current, User(email="b@x.io", phone_number="+15550000001"),
                            field_masks.plan(["email", "phone_number"], User()))
    assert new.email_verified is False and new.phone_verified is True


def test_every_immutable_field_is_output_only_so_masks_may_ignore_it() -> None:
    # plan() drops IMMUTABLE paths with the output-only ones; a new IMMUTABLE field that clients may set
    # on create would need the "a change is INVALID_ARGUMENT" rule in the write instead.
    immutable = {f.name for f in fields.FIELDS if field_behavior_pb2.IMMUTABLE in f.behaviors}
    assert {"id"} == immutable and all(fields.field(name).output_only for name in immutable)



def _scalar_fields() -> list[str]:
    return [f.name for f in User.DESCRIPTOR.fields
            if not f.is_repeated and f.cpp_type != f.CPPTYPE_MESSAGE and f.name in fields.MUTABLE]


@pytest.mark.parametrize("name", _scalar_fields())
@pytest.mark.parametrize("source", ["set", "default", "unset"])
def test_apply_copies_scalars_exactly_as_protobufs_merge_message(name: str, source: str) -> None:
    """``apply`` copies singular scalars itself (the hot path): the result must be the one it gives when
    every path goes through protobuf's FieldMask.MergeMessage."""
    field = User.DESCRIPTOR.fields_by_name[name]
    current = User(id="usr_x", username="alice", display_name="Alice", email="a@example.com", email_verified=True,
                   phone_number="+15552323353", phone_verified=True, state=User.LOCKED, auth_type=User.PASSWORD,
                   require_password_change=True, nickname="al")
    request = User(id="usr_x")
    if source != "unset":
        value: object = {field.TYPE_STRING: "value", field.TYPE_BOOL: True, field.TYPE_ENUM: 2}[field.type]
        setattr(request, name, type(value)() if source == "default" else value)
    plan = field_masks.plan([name, "roles"], request)
    assert plan.scalars == ((name, field.has_presence),) and plan.merged == ("roles",)
    through_merge = field_masks.Plan(plan.paths, plan.fields, (), (name, "roles"))
    assert field_masks.apply(current, request, plan) == field_masks.apply(current, request, through_merge)
    if source == "set":
        assert getattr(field_masks.apply(current, request, plan), name) == getattr(request, name)
