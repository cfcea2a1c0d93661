"""ListUsers' and ListUserChanges' request parts: page sizes, page tokens and the ``filter`` grammar.

A filter is ``name = "value" AND ...`` over the fields the field table marks filterable
(``fields.FILTERS``), each compared as the table says (docs/api.md, "ListUsers").
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from userservice.v1 import user_pb2

from service.errors import InvalidArgument, Violation
from service.users import fields, lookup
from service.users.fields import Filter
from service.users.rules import canonical

DEFAULT_PAGE, MAX_PAGE = 50, 1000
TERM = re.compile(r'\s*([a-z_]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s"]+)\s*')
Where = list[tuple[fields.Field, Filter, Any]]
#: What ``page_token`` issues (``json.dumps`` of these two keys, base64url without padding), read back as is.
TOKEN = re.compile(rb'\{"s": ([0-9]{1,19}), "f": "([0-9a-f]{16})"\}')
MAX_TOKEN = 96


def parse_filter(text: str) -> Where:
    where: Where = []
    if not text.strip():
        return where
    for term in re.split(r"\s+AND\s+", text.strip()):
        m = TERM.fullmatch(term)
        if not m or m.group(1) not in fields.FILTERS:
            raise InvalidArgument([Violation("filter", f"cannot read {term.strip()!r}: use field = \"value\" "
                                             f"AND ... on {', '.join(fields.FILTERS)}")])
        name, raw = m.groups()
        value = lookup.text("filter", raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw)
        field, how = fields.FILTERS[name]
        where.append((field, how, _value(name, field, how, value)))
    return where


def _value(name: str, field: fields.Field, how: Filter, value: str) -> Any:
    if how is Filter.CANONICAL:
        return canonical(value)
    if how is Filter.ENUM:
        enum = field.descriptor.enum_type
        if value not in enum.values_by_name:
            raise InvalidArgument([Violation("filter", f"unknown {name} {value!r}")])
        return enum.values_by_name[value].number
    if how is Filter.FLAG:
        if value not in ("true", "false"):
            raise InvalidArgument([Violation("filter", f"{name} is true or false")])
        return value == "true"
    return value


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument([Violation("page_size", "must not be negative")])
    return min(requested or DEFAULT_PAGE, MAX_PAGE)


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def page_token(seq: int | None, fingerprint: str) -> str:
    if seq is None:
        return ""
    raw = json.dumps({"s": seq, "f": fingerprint}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_page_token(token: str, fingerprint: str) -> int:
    """The row sequence a token continues after; INVALID_ARGUMENT (``page_token``) for anything else.

    A token is read by its exact shape (``TOKEN``), never by a JSON parser: a forged one (``Infinity``,
    ``1e400``, arrays nested 1,000 deep, megabytes of text) is refused before any work is done on it.
    """
    if not token:
        return 0
    forged = InvalidArgument([Violation("page_token", "not a token this service issued")])
    if len(token) > MAX_TOKEN:
        raise forged
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        raise forged from None
    m = TOKEN.fullmatch(raw)
    if m is None:
        raise forged
    seq, fp = int(m.group(1)), m.group(2).decode()
    if fp != fingerprint:
        raise InvalidArgument([Violation("page_token", "issued for another filter")])
    if seq >= 2**63:  # a forged token must not reach the database as an overflow
        raise forged
    return seq


def user_change(row: Any) -> user_pb2.UserChange:
    """An audit row as the API's ``UserChange``."""
    change = user_pb2.UserChange(sequence=row.seq, user_id=row.user_id, key_id=row.key_id, method=row.method,
                                 paths=[str(p) for p in json.loads(row.paths)], old_values=row.old_values,
                                 new_values=row.new_values)
    change.change_time.FromMicroseconds(row.change_time)
    return change
