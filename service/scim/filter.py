"""SCIM list queries: ``filter``, ``startIndex``, ``count`` over the tenant's live users.

The filter grammar, its checks and its evaluation on a SCIM User are scim2-models' (``ScimFilter``),
with this service's comparison rule (``POLICY``: NFKC case folding for attributes that are not
``caseExact``, the rule our unique usernames use). What the store can query narrows the scan: an
``eq`` on ``userName`` or ``externalId`` at the top of the filter (alone or inside an ``and``) becomes
an indexed equality of ``Store.list_users``. Every other filter (``co``, ``sw``, ``ew``, ``ne``, ``pr``,
``or``, ``not``, ``meta.lastModified gt``...) is evaluated here, on each user of keyset pages in
creation order; a query that would read more than ``MAX_SCAN`` users (``MAX_LIST`` without a filter)
is refused (``tooMany``) rather than left to run. The order is the users' creation order, so ``startIndex`` is stable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from scim2_models import InvalidFilterException, ScimFilter, TooManyException
from scim2_models.path.expressions import CompareOperator, Comparison, FilterNode, LogicalExpr, LogicalOperator
from userservice.v1 import user_pb2

from service.scim.mapping import ScimUser
from service.users.rules import canonical

User = user_pb2.User
DEFAULT_COUNT, MAX_COUNT = 100, 1000
#: The most users one filtered list request reads (each rendered and matched here): about 1 s at the rate
#: measured in docs/scim.md. An unfiltered list renders only its page, so it may read more.
MAX_SCAN, MAX_LIST = 10_000, 100_000
#: SCIM attribute (lower-cased, as filters are case-insensitive) -> the store's indexed column.
INDEXED = {"username": "username_canon", "externalid": "external_id"}


@dataclass
class Query:
    """A parsed list request."""

    filter: ScimFilter[ScimUser] | None
    start_index: int
    count: int


def parse(text: str, start_index: int | None, count: int | None) -> Query:
    """A list request's parameters, checked (``invalidFilter`` names what is wrong)."""
    scim_filter = None
    if text.strip():
        try:
            scim_filter = ScimFilter[ScimUser](text)
        except InvalidFilterException:
            raise
        except (ValueError, TypeError) as exc:
            raise InvalidFilterException(detail=str(exc)) from None
    start = max(1, start_index if start_index is not None else 1)
    size = DEFAULT_COUNT if count is None else min(max(count, 0), MAX_COUNT)
    return Query(scim_filter, start, size)


def narrowing(query: Query) -> list[tuple[str, object]]:
    """The store's equality conditions implied by the filter (every match satisfies them)."""
    if query.filter is None:
        return []
    node: FilterNode = query.filter.ast
    terms = node.terms if isinstance(node, LogicalExpr) and node.op == LogicalOperator.and_ else (node,)
    where: list[tuple[str, object]] = []
    for term in terms:
        if (isinstance(term, Comparison) and term.op == CompareOperator.eq and term.attr_path.sub_attr is None
                and term.attr_path.uri in (None, "urn:ietf:params:scim:schemas:core:2.0:User")
                and term.attr_path.attr.lower() in INDEXED and isinstance(term.value, str)):
            column = INDEXED[term.attr_path.attr.lower()]
            where.append((column, canonical(term.value) if column == "username_canon" else term.value))
    return where


def run(query: Query, page: Callable[[int, list[tuple[str, object]]], tuple[list[User], int | None]],
        render: Callable[[User], ScimUser]) -> tuple[int, list[ScimUser]]:
    """Scan the matching users: their total and the ``count`` of them from ``startIndex``."""
    where = narrowing(query)
    total, scanned, after, out = 0, 0, 0, []
    first = query.start_index - 1
    while True:
        users, last = page(after, where)
        scanned += len(users)
        limit = MAX_LIST if query.filter is None else MAX_SCAN
        if scanned > limit:
            raise TooManyException(detail=f"this query reads more than {limit} users; narrow the filter "
                                          "(e.g. userName eq or externalId eq)")
        for user in users:
            in_page = first <= total < first + query.count
            if query.filter is None:  # no filter: only the page's users are rendered
                if in_page:
                    out.append(render(user))
                total += 1
                continue
            scim = render(user)
            if query.filter.match(scim):
                if in_page:
                    out.append(scim)
                total += 1
        if last is None:
            return total, out
        after = last
