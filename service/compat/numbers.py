"""Syncano's integer user ids: a per-tenant number for each user, assigned on first need, never reused.

Syncano's client refuses string ids before sending, so the Syncano routes name users by a number. It
is kept in a table of its own (``syncano_user_numbers``: tenant, number, user; unique per tenant and per
user) and drawn from a per-tenant counter (``syncano_number_counters``), not from the users table's
global ``seq``: numbers start at 1 in every tenant, so one never hints at another tenant's size, and
the counter only grows, so a number is never given to a second user even when rows are removed.

A user gets its number the first time a Syncano route answers about it (in the same process as every
other write of that route: the writer process on SQLite). Two calls racing to number the same user, or
two users of one tenant at once on PostgreSQL, meet on the unique indexes or the counter's row lock;
the loser's transaction is rolled back and it reads (or draws) again. Written here, not with a library,
because a per-tenant gapless counter is a dozen lines of SQL; Peewee gives the models and the queries.
"""

from __future__ import annotations

from typing import Any

import peewee as pw

from service.errors import NotFound
from service.storage.models import BaseModel

ATTEMPTS = 5
#: Syncano's numbers are 32-bit signed integers (``int32`` in the protos, ``integer`` in SQL).
LARGEST = 2**31 - 1


class UserNumber(BaseModel):
    tenant_id = pw.IntegerField()
    number = pw.IntegerField()
    user_id = pw.CharField(max_length=64, unique=True)

    class Meta:
        table_name = "syncano_user_numbers"
        indexes = ((("tenant_id", "number"), True),)


class NumberCounter(BaseModel):
    tenant_id = pw.IntegerField(primary_key=True)
    last = pw.IntegerField()

    class Meta:
        table_name = "syncano_number_counters"


MODELS = [UserNumber, NumberCounter]


def create_tables(db: Any) -> None:
    """The migration's work (``service.storage.migrations``, step 3); ``safe``: a re-run finds them made."""
    db.create_tables(MODELS, safe=True)


def number_of(db: Any, tenant_id: int, user_id: str) -> int:
    """The user's number in its tenant, drawn from the tenant's counter the first time it is asked."""
    for _ in range(ATTEMPTS):
        found = (UserNumber.select(UserNumber.number).where(UserNumber.user_id == user_id)
                 .scalar(db))
        if found is not None:
            return int(found)
        try:
            with db.atomic("IMMEDIATE") if isinstance(db, pw.SqliteDatabase) else db.atomic():
                bumped = (NumberCounter.update(last=NumberCounter.last + 1)
                          .where(NumberCounter.tenant_id == tenant_id).execute(db))
                if not bumped:
                    NumberCounter.insert(tenant_id=tenant_id, last=1).execute(db)
                number = int(NumberCounter.select(NumberCounter.last)
                             .where(NumberCounter.tenant_id == tenant_id).scalar(db))
                UserNumber.insert(tenant_id=tenant_id, number=number, user_id=user_id).execute(db)
                return number
        except pw.IntegrityError:
            continue  # another call numbered this user, or made the tenant's counter: read again
    raise RuntimeError(f"could not number user {user_id!r} after {ATTEMPTS} attempts")


def user_of(db: Any, tenant_id: int, number: int) -> str:
    """The id of the user with this number in the tenant; NOT_FOUND when there is none."""
    found = None
    if 0 < number <= LARGEST:
        found = (UserNumber.select(UserNumber.user_id)
                 .where((UserNumber.tenant_id == tenant_id) & (UserNumber.number == number)).scalar(db))
    if found is None:
        raise NotFound(f"no user number {number} in this instance", reason="USER_NOT_FOUND")
    return str(found)
