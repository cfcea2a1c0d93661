"""How SCIM payloads are read and compared here: scim2-models' ``ScimPolicy``, set once.

- Strings of attributes that are not ``caseExact`` (``userName``, ``emails.value``...) compare as our
  unique indexes compare them: NFKC, then case-folded (``service.validation.canonical``).
- PATCH tolerates what Microsoft Entra ID sends: a ``remove`` whose ``value`` says which entries go,
  and an ``add``/``replace`` whose path filter matches no entry (``emails[type eq "work"].value`` on a
  user with no work e-mail) creates that entry.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from scim2_models import ScimPolicy

from service.users.rules import canonical


def comparison_key(binding: Any, value: str) -> str:
    if binding.case_exact:
        return unicodedata.normalize("NFC", value)
    return canonical(value)


POLICY = ScimPolicy(
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
    comparison_key=comparison_key,
)
