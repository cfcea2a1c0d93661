"""The rules of whole fields that are not one text value (a message, a map, a list, an enum), for the field table.

Each takes the whole user and the field's name, and returns every violation (paths such as
``address.locality`` or ``attributes.k`` where one part is at fault).
"""

from __future__ import annotations

from collections.abc import Callable

from userservice.v1 import user_pb2

from service.errors import Violation
from service.users import rules

User = user_pb2.User


#: Parts of the OIDC address and their length limits (``formatted`` may hold the whole address).
ADDRESS_LIMITS = {"formatted": 1024, "street_address": 256, "locality": 256, "region": 256,
                  "postal_code": 64, "country": 256}
#: Parts that may span lines (OIDC: ``formatted`` MAY contain newlines); every other text is one line.
ADDRESS_LINES = frozenset({"formatted"})


def one_of(allowed: frozenset[int], description: str) -> Callable[[User, str], list[Violation]]:
    def check(user: User, name: str) -> list[Violation]:
        return [] if getattr(user, name) in allowed else [Violation(name, description)]
    return check


def address(user: User, name: str) -> list[Violation]:
    if not user.HasField(name):
        return []
    value = getattr(user, name)
    out: list[Violation] = []
    for part, chars in ADDRESS_LIMITS.items():
        text = getattr(value, part)
        problem = ((rules.control_in_lines if part in ADDRESS_LINES else rules.control)(text)
                   or (f"at most {chars} characters" if len(text) > chars else None))
        if problem:
            out.append(Violation(f"{name}.{part}", problem))
    return out


def attributes(user: User, name: str) -> list[Violation]:
    return [Violation(path, text) for path, text in rules.attributes(getattr(user, name), name)]


def roles(user: User, name: str) -> list[Violation]:
    return [Violation(name, text) for text in rules.roles(list(getattr(user, name)))]
