"""Request ids (AIP-155): the reply of a write is kept with its id for a day, and a retry replays it.

The id is kept with a digest of its request (``service.users.update.request_digest``): a retry of the
same request replays the reply; the same id with another request, method or user is refused
(INVALID_ARGUMENT, reason ``REQUEST_ID_REUSED``). Ids remembered before the digest existed have none
and replay as before.

Both functions run inside the caller's write transaction, so a reply is remembered if and only if
its write committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from userservice.v1 import user_pb2

from service.errors import InvalidArgument, Violation
from service.storage.db import Database
from service.storage.models import RequestRow, any_of

#: How long a request id is remembered (AIP-155 asks for "a reasonable time"): a day.
REQUEST_ID_TTL_MICROS = 24 * 3600 * 1_000_000
#: Expired request ids are deleted once every this many remembered ones.
SWEEP_EVERY = 1000


def _reused(why: str) -> InvalidArgument:
    return InvalidArgument([Violation("request_id", why)], reason="REQUEST_ID_REUSED")


class Requests:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.remembered = 0

    def stored(self, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], Any]:
        """The remembered rows of these (tenant, request id) keys, read in one statement."""
        database = self.database
        sql = database.sql(("replay", len(keys)), lambda: RequestRow.select(
            RequestRow.tenant_id, RequestRow.request_id, RequestRow.method, RequestRow.response,
            RequestRow.user_id, RequestRow.create_time, RequestRow.digest).where(
            any_of(RequestRow.tenant_id, RequestRow.request_id, len(keys))))
        rows = database.execute(sql, [value for key in keys for value in key]).fetchall()
        return {(row[0], row[1]): row[2:] for row in rows}

    def replay(self, tenant_id: int, request_id: str, method: str, user_id: str, now: int,
               digest: str = "", found: dict[tuple[int, str], Any] | None = None) -> user_pb2.User | None:
        """The stored reply of an earlier call with this request id; ``user_id`` must be that call's user,
        and ``digest`` that call's digest. ``found``: what ``stored`` read for a group of commands (None:
        read this one now)."""
        if not request_id:
            return None
        key = (tenant_id, request_id)
        row = (self.stored([key]) if found is None else found).get(key)
        if row is None:
            return None
        if row[3] < now - REQUEST_ID_TTL_MICROS:  # expired: this id starts afresh
            RequestRow.delete().where((RequestRow.tenant_id == tenant_id)
                                      & (RequestRow.request_id == request_id)).execute(self.database.db)
            return None
        if row[0] != method:
            raise _reused(f"already used by {row[0]}")
        if user_id and row[2] != user_id:  # never another user's stored reply
            raise _reused("already used for another user")
        if row[4] and digest and row[4] != digest:
            raise _reused("already used for another request; a retry must repeat the request exactly")
        return user_pb2.User.FromString(bytes(row[1]))

    def remember(self, tenant_id: int, request_id: str, method: str, user: user_pb2.User, now: int,
                 digest: str = "") -> None:
        if not request_id:
            return
        database = self.database
        sql = database.sql("remember", lambda: RequestRow.insert(
            tenant_id=0, request_id="", method="", user_id="", response=b"", create_time=0, digest=""))
        database.defer(sql, (tenant_id, request_id, method, user.id, user.SerializeToString(), now,
                               digest or None))
        self.remembered += 1
        if self.remembered % SWEEP_EVERY == 0:
            RequestRow.delete().where(RequestRow.create_time < now - REQUEST_ID_TTL_MICROS).execute(database.db)
