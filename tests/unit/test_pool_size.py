"""PostgreSQL's pool per server process: ``--pool-size`` threads, capped by the URL's ``max_connections``."""

from __future__ import annotations

from service.storage import postgres

URL = "postgresql://postgres@127.0.0.1:5432/users"


def test_pool_size_defaults_to_four_threads_and_one_connection_more() -> None:
    assert postgres.workers(URL) == postgres.DEFAULT_WORKERS == 4
    assert postgres.connections(URL) == 5


def test_pool_size_flag_sets_the_threads_and_the_connections() -> None:
    assert postgres.workers(URL, 16) == 16
    assert postgres.connections(URL, 16) == 17


def test_max_connections_in_the_url_caps_the_threads_and_the_connections() -> None:
    url = URL + "?max_connections=4&connect_timeout=2"
    assert postgres.workers(url) == 3
    assert postgres.workers(url, 16) == 3
    assert postgres.connections(url, 16) == 4
    assert postgres.workers(URL + "?max_connections=1") == 1
