"""schemathesis (PyPI, pinned) against the live service's GET /openapi.json: no 5xx, every reply as documented.

Bounded: a fixed number of examples per operation, a fixed seed, one worker, and a time cap on the whole
run. The phases are schemathesis' examples, coverage and fuzzing (stateful needs OpenAPI links, which the
document has none of). Path parameters name one real user (and its tenant as Syncano's instance), so the
calls reach the service's logic instead of stopping at 404; the fuzzer's key is an admin key of a tenant
of its own. The checks are no 5xx and the four conformance checks (status code, content type, headers, body);
docs/api.md ("The OpenAPI document") says which other checks are not run and why.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.support import BIN, ROOT, Service, unique

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance")
EXAMPLES_PER_OPERATION = 25
TIME_CAP_S = 240


@pytest.mark.process
def test_schemathesis_finds_no_server_error_and_no_reply_that_breaks_the_document(service: Service,
                                                                                   tmp_path: Path) -> None:
    tenant = unique("fuzz")
    key = service.key("admin", tenant=tenant)
    user = service.create(key, username=unique("fuzz"), password="Sufficient-Pass-1")
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.id" = "{user.id}"\n"path.user_id" = "{user.id}"\n'
                      f'"path.instance" = "{tenant}"\n"header.X-User-Id" = "{user.id}"\n')
    command = [str(BIN / "schemathesis"), "--config-file", str(config), "run",
               f"http://{service.host}:{service.http_port}/openapi.json",
               "--header", f"Authorization: Bearer {key}", "--generation-with-security-parameters", "false",
               "--checks", ",".join(CHECKS), "--phases", "examples,coverage,fuzzing",
               "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", "18", "--workers", "1",
               "--generation-allow-x00", "false", "--request-timeout", "15", "--no-color"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=TIME_CAP_S)
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-2000:]
    document = json.loads((ROOT / "generated" / "openapi.json").read_text())
    operations = sum(len(item) for item in document["paths"].values())
    tested = re.search(r"Tested:\s+(\d+)", run.stdout)
    assert tested is not None and int(tested.group(1)) == operations, run.stdout[-3000:]
