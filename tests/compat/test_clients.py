"""The seed APIs' own published Python clients, unchanged but for the base URL and the key, through the real Envoy.

UserKit (``userkit`` 1.0.0) and Rocket.Chat (``rocketchat-api`` 3.7.1) run in this interpreter (the
``compat-clients`` extra); Syncano's (``syncano`` 5.4.6) runs on Python 3.7 in ``.venv-syncano``, which
``make install`` makes, as a subprocess (``clients/syncano_steps.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from userservice.v1 import user_service_pb2

from tests.support import Service, unique

pytestmark = pytest.mark.process
ROOT = Path(__file__).resolve().parents[2]
SYNCANO_PYTHON = ROOT / ".venv-syncano" / "bin" / "python"


def base_url(service: Service) -> str:
    return f"http://{service.host}:{service.http_port}"


def password_works(service: Service, key: str, username: str, password: str, user_id: str) -> bool:
    reply = service.call("VerifyPassword", user_service_pb2.VerifyPasswordRequest(
        username=username, password=password), key)
    return bool(reply.user.id == user_id)


def test_userkit_client_updates_reads_back_and_raises_its_own_exceptions(
        service: Service, admin_key: str, user: Any) -> None:
    import userkit
    from userkit import error

    uk = userkit.UserKit(admin_key, api_base_url=base_url(service))
    name = unique("janes")
    updated = uk.users.update_user(user.id, name="Jane Smith", username=name, extras={"plan": "pro", "seats": 3})
    assert (updated.id, updated.name, updated.username) == (user.id, "Jane Smith", name)
    assert updated.extras == {"plan": "pro", "seats": "3"}
    got = service.get_user(admin_key, user.id)
    assert got.display_name == "Jane Smith" and dict(got.attributes) == {"plan": "pro", "seats": "3"}

    read = uk.users.get_user(user.id)  # GET /v1/users/{id}, with the client's X-Escape header
    assert read is not None and (read.username, read.name, read.email) == (name, "Jane Smith", user.email)
    read.name = "Jane Q. Smith"
    read.save()  # posts back every mutable field it read
    assert service.get_user(admin_key, user.id).display_name == "Jane Q. Smith"

    with pytest.raises(error.InvalidRequestError) as bad:
        uk.users.update_user(user.id, email="not-an-address", username="has space")
    assert sorted((e.code, e.param) for e in bad.value.errors) == [("invalid_email", "email"),
                                                                    ("invalid_username", "username")]
    other = service.create(admin_key)
    with pytest.raises(error.InvalidRequestError) as taken:
        uk.users.update_user(user.id, username=other.username)
    assert (taken.value.code, taken.value.param) == ("username_taken", "username")

    assert uk.users.get_user("usr_doesnotexist0000000") is None
    with pytest.raises(error.ResourceNotFoundError) as gone:
        uk.users.update_user("usr_doesnotexist0000000", name="x")
    assert (gone.value.code, gone.value.param) == ("user_not_found", "user_id")
    with pytest.raises(error.AppAuthenticationError) as unauthenticated:
        userkit.UserKit("usk_bad_key", api_base_url=base_url(service)).users.get_user(user.id)
    assert unauthenticated.value.code == "invalid_api_key"


def test_rocketchat_client_updates_reads_back_and_raises_its_own_exceptions(
        service: Service, admin_key: str, user: Any) -> None:
    from rocketchat_API.APIExceptions.RocketExceptions import RocketApiException, RocketBadStatusCodeException
    from rocketchat_API.rocketchat import RocketChat

    rc = RocketChat(auth_token=admin_key, user_id=user.id, server_url=base_url(service))
    email = f"{unique('new')}@user.tld"
    out = rc.users_update(user.id, name="new name", email=email, customFields={"twitter": "@ex"})
    assert out["success"] is True and out["user"]["name"] == "new name"
    got = service.get_user(admin_key, user.id)
    assert got.display_name == "new name" and got.email == email and dict(got.attributes) == {"twitter": "@ex"}

    info = rc.users_info(user_id=user.id)
    assert info["success"] is True and info["user"] == out["user"]
    assert rc.users_info(username=user.username)["user"]["_id"] == user.id

    with pytest.raises(RocketApiException) as bad:
        rc.users_update(user.id, email="nope", username="")
    assert (bad.value.status_code, bad.value.error_type) == (400, "invalid-params")
    assert sorted(f["field"] for f in bad.value.response_json["details"]["fields"]) == ["data.email", "data.username"]
    with pytest.raises(RocketApiException) as unknown:
        rc.users_info(user_id="usr_nobody0000")
    assert (unknown.value.status_code, unknown.value.error_type) == (400, "error-invalid-user")
    with pytest.raises(RocketApiException) as gone:
        rc.users_update("usr_nobody0000", name="q")
    assert gone.value.error_type == "error-invalid-user"

    own = RocketChat(auth_token=service.key("user", tenant="acme", user=user.id), user_id=user.id,
                     server_url=base_url(service))
    with pytest.raises(RocketApiException) as forbidden:
        own.users_update(user.id, active=False)
    assert (forbidden.value.status_code, forbidden.value.error_type) == (403, "error-action-not-allowed")
    # Rocket.Chat's own 401 body has no `success`: its client reports it as a bad status, as against Rocket.Chat.
    with pytest.raises(RocketBadStatusCodeException) as unauthenticated:
        RocketChat(auth_token="usk_bad_key", user_id=user.id, server_url=base_url(service)).users_info(
            user_id=user.id)
    assert unauthenticated.value.status_code == 401
    assert unauthenticated.value.response_json == {"status": "error", "message": "You must be logged in to do this."}


def test_syncano_client_on_python_37_updates_reads_back_and_raises_its_own_exceptions(
        service: Service, admin_key: str, user: Any) -> None:
    assert SYNCANO_PYTHON.exists(), "make install makes .venv-syncano (Syncano's client on Python 3.7)"
    number = service.rest("GET", f"/v1.1/instances/acme/users/{user.id}/", headers={"X-API-KEY": admin_key}).json["id"]
    own_key = service.key("user", tenant="acme", user=user.id)
    new_name = unique("geralt")
    steps = {"host": base_url(service) + "/", "api_key": admin_key, "user_key": own_key, "instance": "acme",
             "number": number, "unknown": 2**31 - 1, "new_username": new_name, "new_password": "Roach-and-Plotka-1"}
    run = subprocess.run([str(SYNCANO_PYTHON), str(Path(__file__).parent / "clients" / "syncano_steps.py"),
                          json.dumps(steps)], capture_output=True, text=True, timeout=120, check=False,
                         env={"SYNCANO_LOGLEVEL": "WARNING", "PATH": str(Path(sys.executable).parent)})
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["get"] == {"id": number, "username": user.username, "profile_owner": number}
    assert seen["patch"] == {"id": number, "username": new_name}
    assert seen["bad"]["error"] == "SyncanoRequestError" and seen["bad"]["status"] == 400
    assert seen["bad"]["reason"].startswith("username: ")
    assert seen["unknown"]["error"] == "UserDoesNotExist"
    assert seen["put"] == {"id": number, "username": new_name}
    got = service.get_user(admin_key, user.id)
    assert got.username == new_name
    assert password_works(service, admin_key, new_name, "Roach-and-Plotka-1", user.id)
