"""The canonical REST door: real Envoy transcoding to the real server (CONTRACT sections 3-5)."""

from __future__ import annotations

from urllib.parse import quote

from tests.support import Service, unique


def create(service: Service, key: str, **body: object) -> dict:
    body.setdefault("username", unique())
    reply = service.rest("POST", "/v1/users", body, key=key)
    assert reply.status == 200, reply.text
    return reply.json


def patch(service: Service, key: str, user_id: str, body: object, mask: str | None = None,
          headers: dict[str, str] | None = None, query: str = ""):
    path = f"/v1/users/{user_id}"
    params = ([f"updateMask={quote(mask, safe=',*')}"] if mask is not None else []) + ([query] if query else [])
    if params:
        path += "?" + "&".join(params)
    return service.rest("PATCH", path, body, key=key, headers=headers)


def violations(reply) -> list[str]:
    body = reply.json
    return [v["field"] for d in body["details"] if d["@type"].endswith("BadRequest") for v in d["fieldViolations"]]


def reason(reply) -> str | None:
    for d in reply.json["details"]:
        if d["@type"].endswith("ErrorInfo"):
            return d["reason"]
    return None


def test_create_get_and_etag_header(service: Service, admin_key: str) -> None:
    created = create(service, admin_key, email="Get.Me@example.com", displayName="Get Me")
    assert created["id"].startswith("usr_") and len(created["id"]) >= 4 + 16
    got = service.rest("GET", f"/v1/users/{created['id']}", key=admin_key)
    assert got.status == 200
    assert got.json["email"] == "Get.Me@example.com" and got.json["displayName"] == "Get Me"
    assert got.headers["etag"] == got.json["etag"] == created["etag"]


def test_list_pages_with_keyset_tokens(service: Service) -> None:
    key = service.key("admin", tenant=unique("pages"))
    ids = [create(service, key)["id"] for _ in range(5)]
    seen, token = [], ""
    while True:
        reply = service.rest("GET", f"/v1/users?pageSize=2&pageToken={token}", key=key)
        assert reply.status == 200, reply.text
        assert len(reply.json["users"]) <= 2
        seen += [u["id"] for u in reply.json["users"]]
        token = reply.json["nextPageToken"]
        if not token:
            break
    assert seen == ids


def test_list_page_size_is_capped_and_filter_works(service: Service) -> None:
    key = service.key("admin", tenant=unique("filter"))
    target = create(service, key, email="Find.Me@Example.com")
    create(service, key)
    reply = service.rest("GET", "/v1/users?pageSize=5000&filter=" + quote('email = "find.me@example.com"'), key=key)
    assert reply.status == 200, reply.text
    assert [u["id"] for u in reply.json["users"]] == [target["id"]]
    bad = service.rest("GET", "/v1/users?filter=" + quote("nickname ~ x"), key=key)
    assert bad.status == 400 and violations(bad) == ["filter"]


def test_patch_nested_path_keeps_sibling_fields(service: Service, admin_key: str) -> None:
    u = create(service, admin_key, address={"locality": "Rome", "country": "Italy"})
    reply = patch(service, admin_key, u["id"], {"address": {"locality": "Paris"}}, "address.locality")
    assert reply.status == 200, reply.text
    assert reply.json["address"]["locality"] == "Paris"
    assert reply.json["address"]["country"] == "Italy"


def test_patch_map_keys_set_and_remove_one_key(service: Service, admin_key: str) -> None:
    u = create(service, admin_key, attributes={"keep": "1", "drop": "2"})
    reply = patch(service, admin_key, u["id"], {"attributes": {"twitter": "@x"}}, "attributes.twitter,attributes.drop")
    assert reply.status == 200, reply.text
    assert reply.json["attributes"] == {"keep": "1", "twitter": "@x"}


def test_patch_star_replaces_every_mutable_field_and_keeps_password(service: Service, admin_key: str) -> None:
    u = create(service, admin_key, nickname="nick", displayName="Disp", password="Old-password-1",
               attributes={"a": "1"})
    reply = patch(service, admin_key, u["id"], {"username": u["username"], "givenName": "Given"}, "*")
    assert reply.status == 200, reply.text
    body = reply.json
    assert body["givenName"] == "Given"
    assert "nickname" not in body and "displayName" not in body and body["attributes"] == {}
    assert body["createTime"] == u["createTime"]
    ok = service.rest("POST", "/v1/users:verifyPassword", {"username": u["username"], "password": "Old-password-1"},
                      key=admin_key)
    assert ok.status == 200, ok.text


def test_patch_without_mask_updates_only_populated_fields(service: Service, admin_key: str) -> None:
    u = create(service, admin_key, nickname="nick", displayName="Disp", address={"country": "Italy"})
    reply = patch(service, admin_key, u["id"], {"nickname": "new", "address": {"locality": "Turin"}})
    assert reply.status == 200, reply.text
    assert reply.json["nickname"] == "new" and reply.json["displayName"] == "Disp"
    assert reply.json["address"]["country"] == "Italy" and reply.json["address"]["locality"] == "Turin"


def test_unknown_mask_path_is_400_and_writes_nothing(service: Service, admin_key: str) -> None:
    u = create(service, admin_key, nickname="before")
    reply = patch(service, admin_key, u["id"], {"nickname": "after"}, "nickname,no_such_field")
    assert reply.status == 400
    assert reply.json["code"] == 3 and violations(reply) == ["update_mask"]
    assert service.rest("GET", f"/v1/users/{u['id']}", key=admin_key).json["nickname"] == "before"


def test_output_only_paths_are_ignored(service: Service, admin_key: str) -> None:
    u = create(service, admin_key)
    reply = patch(service, admin_key, u["id"], {"createTime": "2001-01-01T00:00:00Z", "nickname": "n"},
                  "createTime,nickname")
    assert reply.status == 200, reply.text
    assert reply.json["createTime"] == u["createTime"] and reply.json["nickname"] == "n"


def test_every_violation_is_reported_in_one_400(service: Service, admin_key: str) -> None:
    u = create(service, admin_key)
    reply = patch(service, admin_key, u["id"], {"email": "not-an-email", "phoneNumber": "555", "website": "ftp://x",
                                                "birthdate": "1990-13-01", "zoneinfo": "Mars/Base"},
                  "email,phoneNumber,website,birthdate,zoneinfo")
    assert reply.status == 400
    assert sorted(violations(reply)) == ["birthdate", "email", "phone_number", "website", "zoneinfo"]
    assert service.rest("GET", f"/v1/users/{u['id']}", key=admin_key).json["etag"] == u["etag"]


def test_taken_username_and_email_are_409_case_insensitively(service: Service, admin_key: str) -> None:
    a = create(service, admin_key, email=f"{unique()}@Example.com")
    b = create(service, admin_key)
    taken_name = patch(service, admin_key, b["id"], {"username": a["username"].upper()}, "username")
    assert taken_name.status == 409 and reason(taken_name) == "USERNAME_TAKEN"
    taken_mail = patch(service, admin_key, b["id"], {"email": a["email"].lower()}, "email")
    assert taken_mail.status == 409 and reason(taken_mail) == "EMAIL_TAKEN"
    dup = service.rest("POST", "/v1/users", {"username": a["username"].title()}, key=admin_key)
    assert dup.status == 409


def test_stale_etag_in_body_or_if_match_is_409_aborted(service: Service, admin_key: str) -> None:
    u = create(service, admin_key)
    first = patch(service, admin_key, u["id"], {"nickname": "one", "etag": u["etag"]})
    assert first.status == 200, first.text
    stale = patch(service, admin_key, u["id"], {"nickname": "two", "etag": u["etag"]})
    assert stale.status == 409 and stale.json["code"] == 10 and reason(stale) == "ETAG_MISMATCH"
    stale_header = patch(service, admin_key, u["id"], {"nickname": "two"}, headers={"If-Match": u["etag"]})
    assert stale_header.status == 409
    fresh = patch(service, admin_key, u["id"], {"nickname": "two"}, headers={"If-Match": first.headers["etag"]})
    assert fresh.status == 200 and fresh.json["nickname"] == "two"
    assert fresh.headers["etag"] != first.headers["etag"]


def test_validate_only_writes_nothing(service: Service, admin_key: str) -> None:
    u = create(service, admin_key, nickname="before")
    reply = patch(service, admin_key, u["id"], {"nickname": "after"}, "nickname", query="validateOnly=true")
    assert reply.status == 200 and reply.json["nickname"] == "after"
    after = service.rest("GET", f"/v1/users/{u['id']}", key=admin_key).json
    assert after["nickname"] == "before" and after["etag"] == u["etag"]
    bad = patch(service, admin_key, u["id"], {"email": "nope"}, "email", query="validateOnly=true")
    assert bad.status == 400 and violations(bad) == ["email"]


def test_clearing_a_masked_required_field_is_400(service: Service, admin_key: str) -> None:
    u = create(service, admin_key)
    reply = patch(service, admin_key, u["id"], {}, "username")
    assert reply.status == 400 and violations(reply) == ["username"]


def test_an_update_that_changes_nothing_succeeds(service: Service, admin_key: str) -> None:
    u = create(service, admin_key, nickname="same")
    reply = patch(service, admin_key, u["id"], {"nickname": "same"}, "nickname")
    assert reply.status == 200 and reply.json["nickname"] == "same"


def test_email_change_resets_verification_unless_set(service: Service, admin_key: str) -> None:
    u = create(service, admin_key, email=f"{unique()}@example.com", emailVerified=True)
    assert u["emailVerified"] is True
    reply = patch(service, admin_key, u["id"], {"email": f"{unique()}@example.com"}, "email")
    assert reply.json["emailVerified"] is False
    both = patch(service, admin_key, u["id"], {"email": f"{unique()}@example.com", "emailVerified": True},
                 "email,emailVerified")
    assert both.json["emailVerified"] is True


def test_delete_is_soft_and_undelete_restores(service: Service) -> None:
    key = service.key("admin", tenant=unique("del"))
    u = create(service, key)
    deleted = service.rest("DELETE", f"/v1/users/{u['id']}", key=key)
    assert deleted.status == 200 and deleted.json["state"] == "DELETED"
    assert service.rest("GET", "/v1/users", key=key).json["users"] == []
    assert len(service.rest("GET", "/v1/users?showDeleted=true", key=key).json["users"]) == 1
    refused = patch(service, key, u["id"], {"nickname": "x"}, "nickname")
    assert refused.status == 400 and reason(refused) == "USER_DELETED"
    restored = service.rest("POST", f"/v1/users/{u['id']}:undelete", {}, key=key)
    assert restored.status == 200 and restored.json["state"] == "ACTIVE"


def test_state_deleted_only_through_delete(service: Service, admin_key: str) -> None:
    u = create(service, admin_key)
    reply = patch(service, admin_key, u["id"], {"state": "DELETED"}, "state")
    assert reply.status == 400 and violations(reply) == ["state"]


def test_body_id_colliding_with_path_is_refused(service: Service, admin_key: str) -> None:
    a, b = create(service, admin_key, nickname="a"), create(service, admin_key, nickname="b")
    reply = service.rest("PATCH", f"/v1/users/{a['id']}?updateMask=nickname", {"id": b["id"], "nickname": "x"},
                         key=admin_key)
    assert reply.status == 400
    assert service.rest("GET", f"/v1/users/{b['id']}", key=admin_key).json["nickname"] == "b"


def test_unknown_user_is_404_json(service: Service, admin_key: str) -> None:
    reply = service.rest("GET", "/v1/users/usr_doesnotexist0000000", key=admin_key)
    assert reply.status == 404 and reply.json["code"] == 5 and "details" in reply.json


def test_envoy_rejections_are_json_4xx(service: Service, admin_key: str) -> None:
    u = create(service, admin_key)
    cases = [
        service.rest("PATCH", f"/v1/users/{u['id']}", raw=b"{not json", key=admin_key),
        service.rest("GET", "/v2/nothing/here", key=admin_key),
        service.rest("GET", "/v1/users?colour=blue", key=admin_key),
        service.rest("POST", "/v1/users", raw=b'{"username": "' + b"x" * (2 << 20) + b'"}', key=admin_key),
        service.rest("GET", "/v1/users"),
    ]
    assert [c.status for c in cases] == [400, 404, 400, 413, 401]
    for c in cases:
        assert c.headers["content-type"].startswith("application/json"), c.text
        assert set(c.json) == {"code", "message", "details"}, c.text
    assert service.rest("GET", f"/v1/users/{u['id']}", key=admin_key).json["etag"] == u["etag"]


def test_password_is_never_returned_and_stored_only_as_argon2id(service: Service, admin_key: str) -> None:
    secret = "Plain-text-" + unique()
    u = create(service, admin_key, password=secret)
    assert "password" not in u
    reply = patch(service, admin_key, u["id"], {"password": secret + "2"}, "password")
    assert reply.status == 200 and secret not in reply.text and "password" not in reply.json
    [row] = service.sql("SELECT password_hash FROM users WHERE id = ?", (u["id"],))
    assert row[0].startswith("$argon2id$") and "m=19456,t=2,p=1" in row[0]
    for data in service.stored_bytes().values():
        assert secret.encode() not in data
    assert secret not in service.logs()
