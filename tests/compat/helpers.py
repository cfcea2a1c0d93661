"""Shared by the seed tests: the fields and reason named by a canonical error."""

from __future__ import annotations

from typing import Any

from tests.support import Reply


def violations(reply: Reply) -> list[str]:
    """The fields named by a canonical ``{code, message, details}`` error."""
    body: Any = reply.json
    return [v["field"] for d in body["details"] if d["@type"].endswith("BadRequest") for v in d["fieldViolations"]]


def reason(reply: Reply) -> str | None:
    for d in reply.json["details"]:
        if d["@type"].endswith("ErrorInfo"):
            return str(d["reason"])
    return None
