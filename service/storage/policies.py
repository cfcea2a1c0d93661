"""Each tenant's password-guessing settings (``login_policy``): set by the CLI, read by VerifyPassword.

A tenant without a row, or a setting left NULL, has the default (``service.users.lockout.LoginPolicy``):
a later release's better default reaches every tenant that did not choose otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from service.storage.db import Database
from service.storage.models import LoginPolicyRow
from service.users.lockout import LoginPolicy, policy_of

SETTINGS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(LoginPolicy))


class Policies:
    def __init__(self, database: Database) -> None:
        self.database = database

    def stored(self, tenant_id: int) -> dict[str, int | None]:
        """The tenant's stored settings (``None``: the default)."""
        sql = self.database.sql("login_policy", lambda: LoginPolicyRow.select(
            *[getattr(LoginPolicyRow, name) for name in SETTINGS]).where(LoginPolicyRow.tenant_id == 0))
        row = self.database.one(sql, (tenant_id,))
        return dict(zip(SETTINGS, row or (None,) * len(SETTINGS), strict=True))

    def get(self, tenant_id: int) -> LoginPolicy:
        return policy_of(self.stored(tenant_id))

    def set(self, tenant_id: int, changes: dict[str, Any]) -> LoginPolicy:
        """Change some settings (a value ``None`` goes back to the default); returns the policy in force.
        Raises ``ValueError`` naming what is wrong, and changes nothing then."""
        unknown = set(changes) - set(SETTINGS)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        db = self.database.db
        with self.database.write():
            current = self.stored(tenant_id)
            merged = {**current, **changes}
            policy = policy_of(merged)
            problems = policy.problems()
            if problems:
                raise ValueError("; ".join(problems))
            if LoginPolicyRow.select().where(LoginPolicyRow.tenant_id == tenant_id).exists(db):
                LoginPolicyRow.update(**merged).where(LoginPolicyRow.tenant_id == tenant_id).execute(db)
            else:
                LoginPolicyRow.insert(tenant_id=tenant_id, **merged).execute(db)
        return policy
