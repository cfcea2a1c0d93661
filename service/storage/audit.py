"""The audit trail: one ``user_changes`` row per successful write, in the write's own transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence

from userservice.v1 import user_pb2

from service.storage.db import Database
from service.storage.models import UserChangeRow
from service.users import fields
from service.users.fields import Kind


class Audit:
    def __init__(self, database: Database) -> None:
        self.database = database

    def record(self, tenant_id: int, user_id: str, key_id: str, method: str, paths: Sequence[str],
               old: user_pb2.User, new: user_pb2.User, now: int) -> None:
        """Who wrote which paths of which user, with the old and new values of those fields (never a secret)."""
        names = sorted({p.split(".", 1)[0] for p in paths})
        sql = self.database.sql("audit", lambda: UserChangeRow.insert(
            tenant_id=0, user_id="", key_id="", method="", paths="", old_values="", new_values="", change_time=0))
        self.database.defer(sql, (tenant_id, user_id, key_id, method, json.dumps(list(paths)),
                                    values_json(old, names), values_json(new, names), now))

    def changes(self, tenant_id: int, user_id: str, *, page_size: int, after_seq: int
                ) -> tuple[list[UserChangeRow], int | None]:
        """One keyset page of the user's audit records (the caller has already found the user)."""
        with self.database.guard():
            rows = list(UserChangeRow.select().where(
                (UserChangeRow.tenant_id == tenant_id) & (UserChangeRow.user_id == user_id)
                & (UserChangeRow.seq > after_seq)).order_by(UserChangeRow.seq).limit(page_size + 1)
                .execute(self.database.db))
        more = len(rows) > page_size
        rows = rows[:page_size]
        return rows, (rows[-1].seq if more and rows else None)


SORTED_JSON = json.JSONEncoder(sort_keys=True).encode


def values_json(user: user_pb2.User, names: list[str]) -> str:
    """JSON of the named non-secret fields of ``user``, for audit records (never the password)."""
    from google.protobuf import json_format

    chosen = [fields.BY_NAME[name] for name in names if not fields.BY_NAME[name].secret]
    if all(f.kind is Kind.TEXT for f in chosen):  # the common case, without protobuf's JSON machinery
        return SORTED_JSON({f.name: getattr(user, f.name) for f in chosen
                             if (user.HasField(f.name) if f.has_presence else getattr(user, f.name))})
    partial = user_pb2.User()
    for name in names:
        f = fields.BY_NAME[name]
        if f.secret or (f.has_presence and not user.HasField(name)):
            continue
        value = getattr(user, name)
        if f.kind in (Kind.TEXT, Kind.FLAG, Kind.ENUM, Kind.NUMBER):
            setattr(partial, name, value)
        elif f.kind in (Kind.MESSAGE, Kind.TIME):
            getattr(partial, name).CopyFrom(value)
        else:
            getattr(partial, name).MergeFrom(value)
    return SORTED_JSON(json_format.MessageToDict(partial, preserving_proto_field_name=True))
