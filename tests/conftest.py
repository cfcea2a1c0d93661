"""Fixtures: one real service (gRPC + Envoy) for the session, keys, users.

The database is SQLite in a temp dir, or, with USERSERVICE_TEST_DATABASE_BACKEND=postgresql, a fresh
PostgreSQL database created on USERSERVICE_TEST_POSTGRES for this run and dropped after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import BACKEND, POSTGRES, Service, fresh_database, unique


def pytest_configure(config: pytest.Config) -> None:
    if BACKEND not in ("sqlite", "postgresql"):
        raise pytest.UsageError(f"USERSERVICE_TEST_DATABASE_BACKEND={BACKEND!r}: use sqlite or postgresql")
    if BACKEND == "postgresql" and not POSTGRES:
        raise pytest.UsageError("USERSERVICE_TEST_DATABASE_BACKEND=postgresql needs USERSERVICE_TEST_POSTGRES (a URL)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """PostgreSQL-only tests are deselected in the SQLite pass: `make test` runs them in the PostgreSQL pass."""
    for item in items:  # every test of the session's real service starts processes
        if "service" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.process)
    if BACKEND == "postgresql":
        return
    keep = [item for item in items if item.get_closest_marker("postgres_only") is None]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep


def pytest_report_header(config: pytest.Config) -> str:
    return f"userservice database backend: {BACKEND}"


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of the session service's database, fresh for this run."""
    with fresh_database(tmp_path_factory.mktemp("database")) as url:
        yield url


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[Service]:
    svc = Service(tmp_path_factory.mktemp("service"), database)
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
