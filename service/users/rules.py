"""The value rules of single fields (docs/api.md, "The resource"): pure predicates, no field names.

``service.users.fields`` attaches them to the fields they govern; ``service.users.validation``
runs them over a whole user. Each returns the violations of one value, never raises.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from urllib.parse import urlsplit

USERNAME = re.compile(r"[\w.@-]{1,64}")
EMAIL = re.compile(r"[^@\s\"(),:;<>\[\]\\]{1,64}@[^@\s\"(),:;<>\[\]\\]+\.[^@\s\"(),:;<>\[\]\\.]{2,}")
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
ROLE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
ATTRIBUTE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
BCP47 = re.compile(
    r"(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[A-Za-z]{4,8})"
    r"(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?"
    r"(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*"
    r"(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*(?:-[xX](?:-[A-Za-z0-9]{1,8})+)?"
)
BIRTHDATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})-([0-9]{2}))?")
MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUE, MAX_ROLES = 64, 2048, 64
MAX_URL = 2048
#: C0 and C1 control characters (Unicode category Cc). They print nothing, break logs and terminals, and
#: PostgreSQL cannot store U+0000 at all; SQLite can, so without this rule the backends would differ.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: The same, less tab, line feed and carriage return: text that may span lines (``address.formatted``,
#: attribute values).
CONTROL_IN_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
NO_CONTROL = "must not contain control characters (U+0000-U+001F, U+007F-U+009F)"
NO_CONTROL_IN_LINES = "must not contain control characters other than tab, line feed and carriage return"

#: A rule over one text value (never empty): the description of what is wrong, or None.
TextRule = Callable[[str], "str | None"]


def canonical(text: str) -> str:
    """The form in which usernames and e-mails are compared: NFKC, then case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def has_invisible(text: str) -> bool:
    """Bidi controls and zero-width characters (Unicode category Cf) let look-alikes pass."""
    if text.isascii():  # no ASCII character is in category Cf
        return False
    return any(unicodedata.category(ch) == "Cf" for ch in text)


def control(value: str) -> str | None:
    """The rule every single-line text follows, whatever its field (``fields.Field.violations``)."""
    return NO_CONTROL if CONTROL.search(value) else None


def control_in_lines(value: str) -> str | None:
    """The rule of text that may span lines."""
    return NO_CONTROL_IN_LINES if CONTROL_IN_LINES.search(value) else None


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def username(value: str) -> str | None:
    if has_invisible(value) or not USERNAME.fullmatch(value):
        return "1-64 letters, digits, '.', '-', '_' or '@'"
    return None


def email(value: str) -> str | None:
    if len(value) > 254 or has_invisible(value) or not EMAIL.fullmatch(value):
        return "not a valid e-mail address (at most 254 characters)"
    return None


def phone(value: str) -> str | None:
    return None if E164.fullmatch(value) else "not an E.164 phone number such as +15552323353"


def url(value: str) -> str | None:
    parts = urlsplit(value)
    ok = (len(value) <= MAX_URL and parts.scheme in ("http", "https") and bool(parts.hostname)
          and not any(c.isspace() for c in value))
    return None if ok else f"not an absolute http(s) URL of at most {MAX_URL} characters"


def birthdate(value: str) -> str | None:
    bad = "not YYYY-MM-DD, YYYY or 0000-MM-DD"
    m = BIRTHDATE.fullmatch(value)
    if not m:
        return bad
    year, month, day = m.groups()
    if month is None:
        return None if year != "0000" else bad
    try:
        datetime.date(int(year) or 2000, int(month), int(day))  # 0000-MM-DD: year withheld
    except ValueError:
        return bad
    return None


def zone(value: str) -> str | None:
    return None if value in _zones() else "not an IANA time zone such as Europe/Paris"


def locale(value: str) -> str | None:
    return None if BCP47.fullmatch(value) else "not a BCP 47 language tag such as en-US"


def limit(chars: int) -> TextRule:
    def rule(value: str) -> str | None:
        return f"at most {chars} characters" if len(value) > chars else None
    return rule


def attributes(values: Mapping[str, str], field: str) -> list[tuple[str, str]]:
    """(path, description) of every bad key or value of a custom-field map."""
    out: list[tuple[str, str]] = []
    if len(values) > MAX_ATTRIBUTES:
        out.append((field, f"at most {MAX_ATTRIBUTES} keys"))
    for key, value in sorted(values.items()):
        if not ATTRIBUTE_KEY.fullmatch(key):
            out.append((f"{field}.{key}", "a key must match [A-Za-z][A-Za-z0-9_]{0,63}"))
        elif len(value) > MAX_ATTRIBUTE_VALUE:
            out.append((f"{field}.{key}", f"at most {MAX_ATTRIBUTE_VALUE} characters"))
        elif control_in_lines(value):
            out.append((f"{field}.{key}", NO_CONTROL_IN_LINES))
    return out


def roles(values: Sequence[str]) -> list[str]:
    out: list[str] = []
    bad = [r for r in values if not ROLE.fullmatch(r)]
    if bad:
        out.append(f"each role must match [a-z][a-z0-9_-]{{0,63}}: {bad[:5]}")
    if len(set(values)) != len(values):
        out.append("duplicate roles")
    if len(values) > MAX_ROLES:
        out.append(f"at most {MAX_ROLES} roles")
    return out
