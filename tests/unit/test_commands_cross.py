"""Write commands cross to SQLite's writer process pickled (docs/api.md, "Running"): each arrives as it left."""

from __future__ import annotations

import dataclasses
import pickle

from service.auth import Principal
from service.errors import Violation
from service.users.update import prepare_update
from tests import factories


def test_an_update_with_every_field_set_arrives_in_the_writer_unchanged() -> None:
    who = Principal("key1", 7, "acme", "user", "usr_self")
    request = factories.update("usr_self", ["display_name", "attributes.team"], display_name="Jane",
                               attributes={"team": "blue"}, request_id="6f1c2a52-2d1e-4d36-9a3b-1f0c6e0f6a51")
    command = prepare_update(who, request, etag='"e1"', method="CompatUpdate", state=1,
                             refusals=(Violation("firstName", "not allowed"),))
    command = dataclasses.replace(command, password_hash="$argon2id$x",
                                  password_violations=(Violation("password", "too common"),))
    unset = [f.name for f in dataclasses.fields(command)
             if getattr(command, f.name) in (None, "", (), False) and f.name != "derived"]
    assert unset == []  # every field carries a value of its own, so a field dropped on the way shows

    arrived = pickle.loads(pickle.dumps(command, pickle.HIGHEST_PROTOCOL))

    assert arrived == command
    assert arrived.plan == command.plan and arrived.who == command.who


def test_an_update_without_a_mask_keeps_its_derived_plan_across() -> None:
    request = factories.update("usr_1", None, display_name="Jane")
    command = prepare_update(factories.admin(), request)

    arrived = pickle.loads(pickle.dumps(command, pickle.HIGHEST_PROTOCOL))

    assert arrived == command and arrived.derived and arrived.plan.paths == ("display_name",)
