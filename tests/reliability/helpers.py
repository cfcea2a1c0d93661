"""Helpers of the reliability suite: run clients at once, read a user's whole change log, report figures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from userservice.v1 import user_pb2, user_service_pb2

from tests.support import Service

T = TypeVar("T")


def at_once(clients: int, work: Callable[[int], T], timeout: float = 60.0) -> list[T]:
    """Run ``work(i)`` for ``clients`` threads released together by a barrier; their results in order."""
    barrier = threading.Barrier(clients)

    def run(i: int) -> T:
        barrier.wait(timeout)
        return work(i)

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(run, i) for i in range(clients)]
        return [f.result(timeout) for f in futures]


def changes(service: Service, key: str, user_id: str) -> list[user_pb2.UserChange]:
    """Every audit record of a user, following the pages."""
    out: list[user_pb2.UserChange] = []
    token = ""
    while True:
        page = service.call("ListUserChanges", user_service_pb2.ListUserChangesRequest(
            id=user_id, page_size=1000, page_token=token), key)
        out += page.changes
        token = page.next_page_token
        if not token:
            return out



def figure(name: str, **values: Any) -> None:
    """A measured figure, printed for docs/reliability.md (``pytest -s tests/reliability``)."""
    print(f"\nFIGURE {name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return round(time.perf_counter() - self.start, 2)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0
