"""Field rules of CONTRACT section 2. Every function returns every violation, not the first."""

from __future__ import annotations

import datetime
import re
import unicodedata
import zoneinfo
from functools import cache
from urllib.parse import urlsplit

from userservice.v1 import user_pb2

from service.errors import Violation

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
SHORT_TEXT = {"display_name": 256, "given_name": 256, "family_name": 256, "middle_name": 256,
              "nickname": 256, "gender": 64, "external_id": 256}
URLS = ("profile", "picture", "website")
ADDRESS_LIMITS = {"formatted": 1024, "street_address": 256, "locality": 256, "region": 256,
                  "postal_code": 64, "country": 256}
MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUE, MAX_ROLES = 64, 2048, 64
MIN_PASSWORD, MAX_PASSWORD = 8, 128


def canonical(text: str) -> str:
    """The form in which usernames and e-mails are compared: NFKC, then case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def _has_invisible(text: str) -> bool:
    """Bidi controls and zero-width characters (Unicode category Cf) let look-alikes pass."""
    if text.isascii():  # no ASCII character is in category Cf
        return False
    return any(unicodedata.category(ch) == "Cf" for ch in text)


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _birthdate_ok(value: str) -> bool:
    m = BIRTHDATE.fullmatch(value)
    if not m:
        return False
    year, month, day = m.groups()
    if month is None:
        return year != "0000"
    try:
        datetime.date(int(year) or 2000, int(month), int(day))  # 0000-MM-DD: year withheld
    except ValueError:
        return False
    return True


def _url_ok(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in value)


def validate_user(user: user_pb2.User) -> list[Violation]:
    """Every rule of a stored user, checked on the whole (merged) user."""
    out: list[Violation] = []
    if not user.username:
        out.append(Violation("username", "required"))
    elif _has_invisible(user.username) or not USERNAME.fullmatch(user.username):
        out.append(Violation("username", "1-64 letters, digits, '.', '-', '_' or '@'"))
    if user.email and (len(user.email) > 254 or _has_invisible(user.email) or not EMAIL.fullmatch(user.email)):
        out.append(Violation("email", "not a valid e-mail address (at most 254 characters)"))
    if user.HasField("phone_number") and user.phone_number and not E164.fullmatch(user.phone_number):
        out.append(Violation("phone_number", "not an E.164 phone number such as +15552323353"))
    for name, limit in SHORT_TEXT.items():
        if len(getattr(user, name)) > limit:
            out.append(Violation(name, f"at most {limit} characters"))
    for name in URLS:
        value = getattr(user, name)
        if value and (len(value) > 2048 or not _url_ok(value)):
            out.append(Violation(name, "not an absolute http(s) URL of at most 2048 characters"))
    if user.birthdate and not _birthdate_ok(user.birthdate):
        out.append(Violation("birthdate", "not YYYY-MM-DD, YYYY or 0000-MM-DD"))
    if user.zoneinfo and user.zoneinfo not in _zones():
        out.append(Violation("zoneinfo", "not an IANA time zone such as Europe/Paris"))
    if user.locale and not BCP47.fullmatch(user.locale):
        out.append(Violation("locale", "not a BCP 47 language tag such as en-US"))
    if user.HasField("address"):
        for name, limit in ADDRESS_LIMITS.items():
            if len(getattr(user.address, name)) > limit:
                out.append(Violation(f"address.{name}", f"at most {limit} characters"))
    if len(user.attributes) > MAX_ATTRIBUTES:
        out.append(Violation("attributes", f"at most {MAX_ATTRIBUTES} keys"))
    for key, value in sorted(user.attributes.items()):
        if not ATTRIBUTE_KEY.fullmatch(key):
            out.append(Violation(f"attributes.{key}", "a key must match [A-Za-z][A-Za-z0-9_]{0,63}"))
        elif len(value) > MAX_ATTRIBUTE_VALUE:
            out.append(Violation(f"attributes.{key}", f"at most {MAX_ATTRIBUTE_VALUE} characters"))
    bad_roles = [r for r in user.roles if not ROLE.fullmatch(r)]
    if bad_roles:
        out.append(Violation("roles", f"each role must match [a-z][a-z0-9_-]{{0,63}}: {bad_roles[:5]}"))
    if len(set(user.roles)) != len(user.roles):
        out.append(Violation("roles", "duplicate roles"))
    if len(user.roles) > MAX_ROLES:
        out.append(Violation("roles", f"at most {MAX_ROLES} roles"))
    if user.state not in (user_pb2.User.ACTIVE, user_pb2.User.LOCKED):
        out.append(Violation("state", "must be ACTIVE or LOCKED (DELETED only through DeleteUser)"))
    if user.auth_type not in user_pb2.User.AuthType.values():
        out.append(Violation("auth_type", "unknown auth type"))
    return out


def validate_password(password: str, username: str) -> list[Violation]:
    """The policy of every route: 8-128 characters, not containing the username in any case."""
    out: list[Violation] = []
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        out.append(Violation("password", f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters"))
    if username and canonical(username) in canonical(password):
        out.append(Violation("password", "must not contain the username"))
    return out
