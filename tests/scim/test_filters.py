"""SCIM list queries: every filter operator the issue names, pagination, attribute selection."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest

from service.scim.filter import MAX_SCAN
from tests import factories
from tests.scim.helpers import ENTERPRISE, LIST, error, new_user, patch_op, scim, tenant_key
from tests.support import Service

pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def people(service: Service) -> dict[str, Any]:
    """A tenant of four users; their SCIM JSON by short name, and the tenant's key."""
    key = tenant_key(service)
    made = {
        "ann": new_user(service, key, userName="ann.lee", externalId="ext-ann", displayName="Ann Lee",
                        name={"givenName": "Ann", "familyName": "Lee"}, title="Engineer",
                        emails=[{"value": "ann@work.example", "type": "work", "primary": True},
                                {"value": "ann@home.example", "type": "home"}]),
        "bob": new_user(service, key, userName="Bob.Stone", externalId="ext-bob", displayName="Bob Stone",
                        name={"givenName": "Bob", "familyName": "Stone"},
                        emails=[{"value": "bob@work.example", "type": "work", "primary": True}]),
        "cy": new_user(service, key, userName="cy.lee", displayName="Cy Lee", active=False,
                       name={"givenName": "Cy", "familyName": "Lee"}),
    }
    time.sleep(0.01)
    made["dee"] = new_user(service, key, userName="dee.moon", externalId="ext-dee",
                           **{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                              ENTERPRISE: {"department": "R&D"}})
    return {"key": key, **made}


def names(service: Service, people: dict[str, Any], scim_filter: str, **params: Any) -> list[str]:
    query = "&".join([f"filter={quote(scim_filter)}", *(f"{k}={v}" for k, v in params.items())])
    reply = scim(service, "GET", f"/Users?{query}", key=people["key"])
    assert reply.status == 200, reply.text
    by_id = {people[n]["id"]: n for n in ("ann", "bob", "cy", "dee")}
    return [by_id[r["id"]] for r in reply.json["Resources"]]


@pytest.mark.parametrize(("scim_filter", "expected"), [
    ('userName eq "ANN.LEE"', ["ann"]),  # userName is not caseExact
    ('userName ne "ann.lee"', ["bob", "cy", "dee"]),
    ('userName co "LEE"', ["ann", "cy"]),
    ('userName sw "bob"', ["bob"]),
    ('userName ew ".lee"', ["ann", "cy"]),
    ('externalId eq "ext-bob"', ["bob"]),
    ('externalId eq "EXT-BOB"', []),  # externalId is caseExact
    ("externalId pr", ["ann", "bob", "dee"]),
    ('emails.value eq "ann@home.example"', ["ann"]),  # any entry, not only the column's
    ('emails[type eq "work"].value eq "bob@work.example"', ["bob"]),
    ('emails[type eq "home"].value co "ann"', ["ann"]),
    ('name.familyName eq "lee"', ["ann", "cy"]),
    ('name.givenName sw "B" or displayName eq "Cy Lee"', ["bob", "cy"]),
    ('displayName co "Lee" and not (name.givenName eq "Cy")', ["ann"]),
    ("active eq false", ["cy"]),
    ("active eq true and title pr", ["ann"]),
    (f'{ENTERPRISE}:department eq "R&D"', ["dee"]),
])
def test_filter_operators(service: Service, people: dict[str, Any], scim_filter: str, expected: list[str]) -> None:
    assert names(service, people, scim_filter) == expected


def test_meta_last_modified_comparisons(service: Service, people: dict[str, Any]) -> None:
    dee = people["dee"]["meta"]["lastModified"]
    assert names(service, people, f'meta.lastModified ge "{dee}"') == ["dee"]
    assert names(service, people, f'meta.lastModified gt "{dee}"') == []
    assert names(service, people, f'meta.lastModified lt "{dee}"') == ["ann", "bob", "cy"]
    assert names(service, people, f'meta.lastModified le "{dee}"') == ["ann", "bob", "cy", "dee"]
    # A change moves a user past the others.
    scim(service, "PATCH", f"/Users/{people['bob']['id']}", patch_op(
        {"op": "replace", "path": "nickName", "value": "bobby"}), key=people["key"])
    assert names(service, people, f'meta.lastModified gt "{dee}"') == ["bob"]
    assert datetime.fromisoformat(dee) > datetime.fromisoformat(people["ann"]["meta"]["lastModified"])


def test_pagination_is_stable_with_integer_counts(service: Service, people: dict[str, Any]) -> None:
    pages = []
    for start in (1, 3, 5):
        reply = scim(service, "GET", f"/Users?startIndex={start}&count=2", key=people["key"])
        body = reply.json
        assert body["schemas"] == [LIST]
        assert (body["totalResults"], body["startIndex"]) == (4, start)
        assert body["itemsPerPage"] == len(body["Resources"])
        pages.append([r["userName"] for r in body["Resources"]])
    assert pages == [["ann.lee", "Bob.Stone"], ["cy.lee", "dee.moon"], []]
    none = scim(service, "GET", "/Users?count=0", key=people["key"]).json
    assert (none["totalResults"], none["itemsPerPage"], none["Resources"]) == (4, 0, [])
    below = scim(service, "GET", "/Users?startIndex=0&count=1", key=people["key"]).json
    assert below["startIndex"] == 1 and below["Resources"][0]["userName"] == "ann.lee"


def test_search_endpoint_takes_the_same_query_in_its_body(service: Service, people: dict[str, Any]) -> None:
    for path in ("/Users/.search", "/.search"):
        reply = scim(service, "POST", path, {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": 'userName co "lee"',
            "attributes": ["userName"], "startIndex": 1, "count": 10}, key=people["key"])
        assert reply.status == 200, reply.text
        assert reply.json["totalResults"] == 2
        assert [sorted(r) for r in reply.json["Resources"]] == [["id", "schemas", "userName"]] * 2


def test_attributes_and_excluded_attributes(service: Service, people: dict[str, Any]) -> None:
    ann = people["ann"]["id"]
    only = scim(service, "GET", f"/Users/{ann}?attributes=displayName,name.givenName", key=people["key"]).json
    assert only == {"schemas": only["schemas"], "id": ann, "displayName": "Ann Lee", "name": {"givenName": "Ann"}}
    without = scim(service, "GET", f"/Users/{ann}?excludedAttributes=emails,title", key=people["key"]).json
    assert "emails" not in without and "title" not in without and without["userName"] == "ann.lee"
    listed = scim(service, "GET", "/Users?attributes=userName&filter=" + quote('userName eq "ann.lee"'),
                  key=people["key"]).json
    assert [sorted(r) for r in listed["Resources"]] == [["id", "schemas", "userName"]]
    both = scim(service, "GET", f"/Users/{ann}?attributes=userName&excludedAttributes=title", key=people["key"])
    assert error(both) == (400, "invalidValue")


@pytest.mark.parametrize("bad", ['userName eq', 'userName zz "x"', '(userName eq "x"', 'emails[type eq "work"'])
def test_a_malformed_filter_is_invalid_filter(service: Service, people: dict[str, Any], bad: str) -> None:
    reply = scim(service, "GET", "/Users?filter=" + quote(bad), key=people["key"])
    assert error(reply) == (400, "invalidFilter")


def test_sorting_is_refused_not_ignored(service: Service, people: dict[str, Any]) -> None:
    assert error(scim(service, "GET", "/Users?sortBy=userName", key=people["key"])) == (400, "invalidValue")
    search = scim(service, "POST", "/Users/.search", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "sortBy": "userName"}, key=people["key"])
    assert error(search) == (400, "invalidValue")


def test_a_filter_that_would_scan_too_many_users_is_too_many(service: Service) -> None:
    key = tenant_key(service)
    first = new_user(service, key, userName="first.of.many")
    tenant = service.sql("SELECT tenant_id FROM users WHERE id = ?", (first["id"],))[0][0]
    for i in range(MAX_SCAN):  # straight into the store: this test is about reading them
        factories.stored_user(service.store, tenant, username=f"many{i:05d}")
    assert error(scim(service, "GET", "/Users?filter=" + quote('userName co "of.many"'), key=key)) == (
        400, "tooMany")
    # What the store can query, and an unfiltered page, still answer.
    found = scim(service, "GET", "/Users?filter=" + quote('userName eq "first.of.many"'), key=key).json
    assert found["totalResults"] == 1
    page = scim(service, "GET", "/Users?count=1", key=key).json
    assert page["totalResults"] == MAX_SCAN + 1 and page["Resources"][0]["userName"] == "first.of.many"
