"""Every call the UserKit, Rocket.Chat and Syncano adapters make into the core beyond ``common.apply``.

Kept in one module so that they are easy to re-point when the core moves: a user by username, the
database the Syncano numbers live in, and the one widening of a principal a seed route needs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from service.auth import Principal, require_user_access
from service.compat.common import User
from service.errors import NotFound
from service.users import fields, lookup
from service.users.fields import Filter
from service.users.rules import canonical
from service.users.servicer import UserService


def read(users: UserService, who: Principal, user_id: str) -> User:
    """A user the caller may read (NOT_FOUND in another tenant)."""
    return users.read(who, user_id)


def read_by_username(users: UserService, who: Principal, username: str) -> User:
    """The user of the caller's tenant with this username, in any case; NOT_FOUND when there is none."""
    found, _ = users.store.users.page(who.tenant_id, page_size=1, after_seq=0, show_deleted=True,
                                      where=[(fields.field("username"), Filter.CANONICAL,
                                              canonical(lookup.user_id(username)))])
    if not found:
        raise NotFound(f"no user named {username!r}", reason="USER_NOT_FOUND")
    require_user_access(who, found[0].id, write=False)
    return found[0]


def database(users: UserService) -> Any:
    """The Peewee database the adapters' own tables (``service.compat.numbers``) are read and written in."""
    return users.store.db


def as_own_password_writer(who: Principal) -> Principal:
    """A ``user`` key acting on its own user, allowed to set that user's password without the current one.

    Only Syncano's route uses it, and only for a request naming the key's own user with nothing but
    ``username`` and ``password``: there the user key is Syncano's proof of the user (docs/compat.md).
    The key id is kept, so the audit record names the user's key as for any other change.
    """
    return dataclasses.replace(who, role="admin")
