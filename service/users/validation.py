"""Whole-user validation (AIP-134 "validated as a whole"), driven by the field table.

Every function returns every violation, not the first: one ``Violation`` per bad field, in
the table's (proto) order.
"""

from __future__ import annotations

import functools

from userservice.v1 import user_pb2

from service.errors import Violation
from service.users import fields, rules
from service.users.rules import canonical

#: The policy's bounds, in characters. NIST SP 800-63B rev. 4 asks at least 15 for a password that is the
#: only factor; a deployment raises the minimum with ``userservice serve --password-min-length``.
MIN_PASSWORD, MAX_PASSWORD = 8, 128


def validate_user(user: user_pb2.User) -> list[Violation]:
    """Every rule of a stored user, checked on the whole (merged) user."""
    out: list[Violation] = []
    for name, required, rule in fields.TEXT_RULES:
        value = getattr(user, name)
        if not value:
            if required:
                out.append(Violation(name, "required"))
        else:
            problem = rules.control(value) or (rule(value) if rule is not None else None)
            if problem:
                out.append(Violation(name, problem))
    for name, check in fields.CHECKS:
        out += check(user, name)
    return out


@functools.cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords (lower case), as the ``zxcvbn`` package ships them (from its
    ``frequency_lists``; loaded once, about 30 ms; nothing is fetched at run time)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def validate_password(password: str, username: str, *, min_length: int = MIN_PASSWORD) -> list[Violation]:
    """The policy of every route: ``min_length``-128 characters, not containing the username and not a
    commonly used password, both compared case-insensitively."""
    name = fields.SECRET.name
    out: list[Violation] = []
    if not min_length <= len(password) <= MAX_PASSWORD:
        out.append(Violation(name, f"must be {min_length}-{MAX_PASSWORD} characters"))
    if username and canonical(username) in canonical(password):
        out.append(Violation(name, "must not contain the username"))
    if password.lower() in common_passwords():
        out.append(Violation(name, "is a commonly used password; choose another"))
    return out
