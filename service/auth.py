"""API keys: their format, the carriers that bring them, and who may do what.

A key is ``usk_<key id>_<secret>``. Only ``sha256(secret)`` is stored; the comparison is constant
time. Lookups are cached for ``KEY_CACHE_SECONDS`` so a revocation takes effect within that time on
every running server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from service.errors import PermissionDenied, Unauthenticated
from service.users.rules import CONTROL

if TYPE_CHECKING:  # storage runs commands that carry a Principal: import it for types only
    from service.storage import KeyRecord, Store

ROLES = ("admin", "reader", "user")
#: Least privilege first: when several keys come with one call, the narrowest one acts.
_RANK = {"user": 0, "reader": 1, "admin": 2}
KEY_CACHE_SECONDS = 1.0
CARRIERS = ("authorization", "x-api-key", "x-auth-token", "x-user-key")


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    tenant_id: int
    tenant: str
    role: str
    user_id: str | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def __reduce__(self) -> tuple[type[Principal], tuple[str, int, str, str, str | None]]:
        """Pickled as its fields (it crosses to SQLite's writer process with every write command)."""
        return Principal, (self.key_id, self.tenant_id, self.tenant, self.role, self.user_id)


def new_key() -> tuple[str, str, str]:
    """A fresh key: (key id, the whole key to show once, the hash to store)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return key_id, f"usk_{key_id}_{secret}", hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(key: str) -> tuple[str, str] | None:
    """(id, secret) of a key's text, or None: not a key (one with a control character, which a Basic
    credential can carry, never reaches the database, where PostgreSQL would refuse U+0000)."""
    parts = key.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "usk" or not parts[1] or not parts[2] or CONTROL.search(key):
        return None
    return parts[1], parts[2]


def keys_in(metadata: Iterable[tuple[str, str | bytes]]) -> list[str]:
    """Every key a call carries, from any accepted carrier."""
    found: list[str] = []
    for name, raw in metadata:
        if name not in CARRIERS or isinstance(raw, bytes):
            continue
        value = raw.strip()
        if name == "authorization":
            scheme, _, rest = value.partition(" ")
            if scheme.lower() == "bearer":
                found.append(rest.strip())
            elif scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(rest.strip(), validate=True).decode()
                except ValueError:
                    raise Unauthenticated("malformed basic credentials") from None
                found.append(decoded.partition(":")[2])
            else:
                raise Unauthenticated("authorization must be 'Bearer <key>' or 'Basic base64(api:<key>)'")
        elif value:
            found.append(value)
    return found


class Authenticator:
    """Turns carried keys into a ``Principal``, with a short-lived cache of key records."""

    def __init__(self, store: Store, ttl: float = KEY_CACHE_SECONDS) -> None:
        self.store = store
        self.ttl = ttl
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}

    def _record(self, key_id: str) -> KeyRecord | None:
        now = time.monotonic()
        hit = self._cache.get(key_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        record = self.store.keys.key(key_id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key_id] = (now, record)
        return record

    def check(self, key: str) -> Principal:
        parts = split_key(key)
        record = self._record(parts[0]) if parts else None
        if parts is None or record is None or record.revoked or not hmac.compare_digest(
            hash_secret(parts[1]), record.secret_hash
        ):
            raise Unauthenticated("the API key is not valid", reason="INVALID_API_KEY")
        return Principal(record.id, record.tenant_id, record.tenant_name, record.role, record.user_id)

    def authenticate(self, metadata: Iterable[tuple[str, str | bytes]]) -> Principal:
        keys = keys_in(metadata)
        if not keys:
            raise Unauthenticated(
                "an API key is required: authorization: Bearer <key>, x-api-key, x-auth-token or x-user-key",
                reason="MISSING_API_KEY",
            )
        principals = [self.check(k) for k in dict.fromkeys(keys)]
        if len({p.tenant_id for p in principals}) != 1:
            raise Unauthenticated("the keys of one call belong to different tenants", reason="INVALID_API_KEY")
        return min(principals, key=lambda p: _RANK[p.role])


def require(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise PermissionDenied(f"a {principal.role} key cannot do this; it needs one of: {', '.join(roles)}",
                               metadata={"role": principal.role})


def require_user_access(principal: Principal, user_id: str, *, write: bool) -> None:
    """Admins act on every user of their tenant, readers read them, a user key only its own user."""
    if principal.role == "admin":
        return
    if principal.role == "reader" and not write:
        return
    if principal.role == "user" and principal.user_id == user_id:
        return
    if principal.role == "reader":
        raise PermissionDenied("a reader key cannot write", metadata={"role": "reader"})
    raise PermissionDenied("a user key acts only on its own user", metadata={"role": principal.role})
