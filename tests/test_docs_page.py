"""GET /docs, the API reference page, as headless Chromium renders it (docs/api.md, "The OpenAPI document")."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.chromium import Page
from tests.support import ROOT, Service

#: Where each run saves what Chromium showed (ignored by git; docs/openapi-docs.png is a copy from one run).
SCREENSHOT = ROOT / "docs" / "screenshots" / "openapi-docs.png"
UPDATE_USER = '[data-section-id="operation/UserService_UpdateUser"]'


@pytest.fixture(scope="module")
def page(service: Service) -> Iterator[Page]:
    browser = Page()
    try:
        browser.open(f"http://{service.host}:{service.http_port}/docs")
        browser.wait_for(f"document.querySelector('{UPDATE_USER} h2') !== null")
        yield browser
    finally:
        browser.close()


@pytest.mark.process
def test_docs_page_renders_the_update_user_operation_with_its_update_mask_query_parameter(page: Page) -> None:
    heading = page.evaluate(f"document.querySelector('{UPDATE_USER} h2').textContent.trim()")
    assert heading == "UpdateUser"
    # Redoc lists each parameter kind under an <h5> ("query Parameters") followed by a table of names.
    query = page.evaluate(f"""(() => {{
        const section = document.querySelector('{UPDATE_USER}');
        const title = [...section.querySelectorAll('h5')].find(h => /^query parameters$/i.test(h.textContent.trim()));
        return title ? [...title.nextElementSibling.querySelectorAll('.property-name')].map(e => e.textContent) : null;
    }})()""")
    assert query is not None and "updateMask" in query, query
    page.evaluate(f"document.querySelector('{UPDATE_USER}').scrollIntoView()")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(SCREENSHOT)
    assert SCREENSHOT.read_bytes().startswith(b"\x89PNG")


@pytest.mark.process
def test_docs_page_fetches_nothing_from_outside_the_service(page: Page, service: Service) -> None:
    origin = f"http://{service.host}:{service.http_port}/"
    requests = [(url, blocked) for url, blocked in page.requests if not url.startswith(("data:", "blob:"))]
    assert f"{origin}openapi.json" in [url for url, _ in requests]
    # Redoc's bundle always renders a logo from cdn.redoc.ly: the page's Content-Security-Policy stops it
    # before it is sent. Everything the browser did send went to the service.
    outside = [(url, blocked) for url, blocked in requests if not url.startswith(origin)]
    assert all(blocked == "csp" for _, blocked in outside), outside


@pytest.mark.process
def test_openapi_document_is_served_as_committed(service: Service) -> None:
    reply = service.rest("GET", "/openapi.json")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json == json.loads((ROOT / "generated" / "openapi.json").read_text())
