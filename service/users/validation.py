"""Whole-user validation (AIP-134 "validated as a whole"), driven by the field table.

Every function returns every violation, not the first: one ``Violation`` per bad field, in
the table's (proto) order.
"""

from __future__ import annotations

from userservice.v1 import user_pb2

from service.errors import Violation
from service.users import fields
from service.users.rules import canonical

MIN_PASSWORD, MAX_PASSWORD = 8, 128


def validate_user(user: user_pb2.User) -> list[Violation]:
    """Every rule of a stored user, checked on the whole (merged) user."""
    out: list[Violation] = []
    for field in fields.WRITABLE:
        out += field.violations(user)
    return out


def validate_password(password: str, username: str) -> list[Violation]:
    """The policy of every route: 8-128 characters, not containing the username in any case."""
    name = fields.SECRET.name
    out: list[Violation] = []
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        out.append(Violation(name, f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters"))
    if username and canonical(username) in canonical(password):
        out.append(Violation(name, "must not contain the username"))
    return out
