"""Fixtures: one real service (gRPC + Envoy, SQLite in a temp dir) for the session, keys, users."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import Service, unique


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = Service(tmp_path_factory.mktemp("service"))
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture(scope="session")
def admin_key(service: Service) -> str:
    return service.key("admin", tenant="acme")


@pytest.fixture
def user(service: Service, admin_key: str) -> Any:
    """A fresh user of tenant acme, with an e-mail and a password."""
    name = unique("user")
    return service.create(admin_key, username=name, email=f"{name}@example.com", password="Sufficient-Pass-1")
