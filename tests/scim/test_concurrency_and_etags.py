"""SCIM writes under concurrency and with versions: PATCH is one masked update, ETags are ours."""

from __future__ import annotations

from pathlib import Path

import pytest
from userservice.v1 import user_pb2, user_service_pb2

from tests.reliability.helpers import at_once, changes
from tests.scim.helpers import ENTERPRISE, Door, error, new_user, patch_op, scim, tenant_key
from tests.support import Service, fresh_postgres
from tests.test_replicas import Replicas

pytestmark = [pytest.mark.process, pytest.mark.timeout(120)]

#: Twelve clients, each PATCHing a different attribute of the same user at the same moment.
WRITES = [
    ("displayName", "Display"), ("nickName", "Nick"), ("title", "Title"), ("userType", "Employee"),
    ("name.givenName", "Given"), ("name.familyName", "Family"), ("name.middleName", "Middle"),
    ("locale", "fr-FR"), ("timezone", "Europe/Paris"), ("preferredLanguage", "fr"),
    (f"{ENTERPRISE}:department", "R&D"), (f"{ENTERPRISE}:costCenter", "42"),
]
ROUNDS = 3
#: Round i writes value i of each attribute (valid values for the validated ones).
VALUES = {path: {"locale": ["fr-FR", "de-DE", "en-GB"], "timezone": ["Europe/Paris", "Asia/Tokyo", "UTC"]}.get(
    path, [f"{base}{i}" for i in range(ROUNDS)]) for path, base in WRITES}
CANONICAL = {"displayName": ("display_name", None), "nickName": ("nickname", None), "title": (None, "title"),
             "userType": (None, "userType"), "name.givenName": ("given_name", None),
             "name.familyName": ("family_name", None), "name.middleName": ("middle_name", None),
             "locale": ("locale", None), "timezone": ("zoneinfo", None),
             "preferredLanguage": (None, "preferredLanguage"),
             f"{ENTERPRISE}:department": (None, "department"), f"{ENTERPRISE}:costCenter": (None, "costCenter")}


def patch_at_once(door: Door, key: str, user_id: str) -> None:
    """Every client of WRITES PATCHes its own attribute of the user, all released together."""

    def client(c: int) -> list[str]:
        path = WRITES[c][0]
        failures = []
        for value in VALUES[path]:
            reply = scim(door, "PATCH", f"/Users/{user_id}",
                         patch_op({"op": "replace", "path": path, "value": value}), key=key)
            if reply.status != 200:
                failures.append(f"{path}: {reply.status} {reply.text}")
        return failures

    assert [f for failures in at_once(len(WRITES), client) for f in failures] == []


def assert_every_write_kept(stored: user_pb2.User) -> None:
    for path, _ in WRITES:
        column, attribute = CANONICAL[path]
        got = getattr(stored, column) if column else stored.attributes.get(attribute or "")
        assert got == VALUES[path][-1], path


def test_concurrent_patches_of_different_attributes_lose_nothing(service: Service) -> None:
    key = tenant_key(service)
    user_id = new_user(service, key)["id"]
    patch_at_once(service, key, user_id)
    assert_every_write_kept(service.get_user(key, user_id))
    # Every PATCH is one audited update, named as SCIM's, of its own path only.
    audit = [c for c in changes(service, key, user_id) if c.method == "ScimPatchUser"]
    assert len(audit) == len(WRITES) * ROUNDS
    assert all(len(c.paths) == 1 for c in audit)


@pytest.mark.postgres_only
def test_concurrent_patches_through_four_replicas_lose_nothing(tmp_path: Path) -> None:
    """Four server processes on one PostgreSQL: the PATCHes of one user really run side by side."""
    with fresh_postgres() as database:
        replicas = Replicas(tmp_path, database, count=4)
        try:
            user_id = new_user(replicas, replicas.key)["id"]
            patch_at_once(replicas, replicas.key, user_id)
            stored = replicas.envoy.GetUser(user_service_pb2.GetUserRequest(id=user_id), metadata=replicas.md())
            assert_every_write_kept(stored)
        finally:
            replicas.stop()


def test_stale_if_match_is_412_and_writes_nothing(service: Service) -> None:
    key = tenant_key(service)
    created = new_user(service, key, displayName="Before")
    user_id, old = created["id"], created["meta"]["version"]
    moved = scim(service, "PATCH", f"/Users/{user_id}", patch_op(
        {"op": "replace", "path": "nickName", "value": "moved"}), key=key, headers={"if-match": old})
    assert moved.status == 200 and moved.headers["etag"] != old
    before = service.get_user(key, user_id)
    for method, body in (("PATCH", patch_op({"op": "replace", "path": "displayName", "value": "After"})),
                         ("PUT", {**created, "displayName": "After"}), ("DELETE", None)):
        reply = scim(service, method, f"/Users/{user_id}", body, key=key, headers={"if-match": old})
        assert error(reply) == (412, None), method
    assert service.get_user(key, user_id) == before
    # A current If-Match (weak or strong, as the ETag header gives it) is accepted.
    ok = scim(service, "PATCH", f"/Users/{user_id}", patch_op(
        {"op": "replace", "path": "displayName", "value": "After"}), key=key,
        headers={"if-match": f"W/{before.etag}"})
    assert ok.status == 200 and service.get_user(key, user_id).display_name == "After"


def test_if_none_match_with_the_current_version_is_304(service: Service) -> None:
    key = tenant_key(service)
    user_id = new_user(service, key)["id"]
    got = scim(service, "GET", f"/Users/{user_id}", key=key)
    version = got.headers["etag"]
    assert version == got.json["meta"]["version"] == service.get_user(key, user_id).etag
    same = scim(service, "GET", f"/Users/{user_id}", key=key, headers={"if-none-match": version})
    assert same.status == 304 and same.text == "" and same.headers["etag"] == version
    scim(service, "PATCH", f"/Users/{user_id}", patch_op({"op": "add", "path": "title", "value": "x"}), key=key)
    changed = scim(service, "GET", f"/Users/{user_id}", key=key, headers={"if-none-match": version})
    assert changed.status == 200 and changed.json["title"] == "x" and changed.headers["etag"] != version


def test_a_patch_that_changes_nothing_writes_nothing(service: Service) -> None:
    key = tenant_key(service)
    created = new_user(service, key, displayName="Same")
    reply = scim(service, "PATCH", f"/Users/{created['id']}", patch_op(
        {"op": "replace", "path": "displayName", "value": "Same"}), key=key)
    assert reply.status == 200 and reply.json["meta"]["version"] == created["meta"]["version"]
    page = service.call("ListUserChanges", user_service_pb2.ListUserChangesRequest(id=created["id"]), key)
    assert [c.method for c in page.changes] == ["CreateUser"]
