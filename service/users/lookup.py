"""Values a request uses to *find* users (ids, login names, ``filter`` values), checked at the request boundary.

A stored text is checked by the field table (``fields.Field.violations``, ``rules.control``); a value
that only looks something up is checked here, before it reaches the database, so that both backends
answer alike: PostgreSQL refuses U+0000 in any parameter (psycopg2 raises before the query runs), SQLite
takes it and finds nothing. No id, username or e-mail can hold a control character, so an id with one is
NOT_FOUND (what any other unknown id gets) and a login name or a filter value with one is
INVALID_ARGUMENT naming the request field. The servicer, ``listing`` and the seed adapters call these.
"""

from __future__ import annotations

from service.errors import InvalidArgument, NotFound, Violation
from service.users.rules import CONTROL, NO_CONTROL


def user_id(value: str) -> str:
    """``value``, an id from a path or a request; NOT_FOUND when no user can have it."""
    if CONTROL.search(value):
        raise NotFound(f"user {value!r} not found", metadata={"id": value.encode("unicode_escape").decode()})
    return value


def text(field: str, value: str) -> str:
    """``value``, a name or filter value sent in the request field ``field``; INVALID_ARGUMENT if it has a
    control character."""
    if CONTROL.search(value):
        raise InvalidArgument([Violation(field, NO_CONTROL)])
    return value
