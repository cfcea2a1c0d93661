"""scim2-tester (PyPI), the field's conformance checker, against the live service through Envoy."""

from __future__ import annotations

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from tests.scim.helpers import tenant_key
from tests.support import Service

pytestmark = [pytest.mark.process, pytest.mark.timeout(240)]


def test_every_scim2_tester_check_succeeds(service: Service) -> None:
    key = tenant_key(service)
    http = httpx2.Client(base_url=f"http://{service.host}:{service.http_port}/scim/v2",
                         headers={"Authorization": f"Bearer {key}"}, timeout=30)
    with http:
        results = check_server(SyncSCIMClient(http))
    failed = [(r.title, r.status.name, r.reason) for r in results if r.status != Status.SUCCESS]
    assert failed == []
    titles = {r.title for r in results}
    # The checks that matter to identity providers ran (and succeeded), not only discovery.
    assert {"object_creation", "object_query", "object_replacement", "object_deletion", "check_add_attribute",
            "check_replace_attribute", "check_remove_attribute", "object_list_with_attributes",
            "search_with_attributes", "random_url"} <= titles
    assert len(results) >= 100
