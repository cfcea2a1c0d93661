"""Every mutable field of ``User``, walked from the descriptor (not from a list): set through UpdateUser,
read back through GetUser and again after a restart, with a new etag and an audit record naming it.

A field added to the proto without storage fails here (and without a migration step, in
test_migrations.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from userservice.v1 import user_pb2
from userservice.v1 import user_service_pb2 as api

from service.users import fields
from tests import factories, inprocess
from tests.support import fresh_database

User = user_pb2.User
WALKED = [f for f in fields.FIELDS if f.mutable]


def expected(field: fields.Field) -> User:
    out = User()
    factories.set_value(out, field.name, field.example)
    return out


@pytest.mark.parametrize("field", WALKED, ids=[f.name for f in WALKED])
def test_every_mutable_field_is_stored_read_back_after_a_restart_and_audited(tmp_path: Path,
                                                                            field: fields.Field) -> None:
    async def scenario(url: str) -> None:
        async with inprocess.service(url) as svc:
            key = svc.admin[0][1].removeprefix("Bearer ")
            created = await svc.stub.CreateUser(api.CreateUserRequest(user=factories.user()), metadata=svc.admin)
            request = factories.update(created.id, [field.name], **{field.name: field.example})
            updated = await svc.stub.UpdateUser(request, metadata=svc.admin)
            assert updated.etag != created.etag
            changes = await svc.stub.ListUserChanges(api.ListUserChangesRequest(id=created.id), metadata=svc.admin)
            assert field.name in changes.changes[-1].paths
            if not field.secret:
                read = await svc.stub.GetUser(api.GetUserRequest(id=created.id), metadata=svc.admin)
                assert field.same(read, expected(field))
        async with inprocess.service(url, key) as svc:  # a restart: a new Store on the same database
            if field.secret:
                login = api.VerifyPasswordRequest(username=created.username, password=field.example)
                assert (await svc.stub.VerifyPassword(login, metadata=svc.admin)).user.id == created.id
            else:
                read = await svc.stub.GetUser(api.GetUserRequest(id=created.id), metadata=svc.admin)
                assert field.same(read, expected(field)) and read.etag == updated.etag

    with fresh_database(tmp_path) as url:
        asyncio.run(scenario(url))


def test_the_walk_covers_every_field_an_update_can_write() -> None:
    writable = {f.name for f in User.DESCRIPTOR.fields} - fields.IGNORED_IN_MASK
    assert {f.name for f in WALKED} == writable
