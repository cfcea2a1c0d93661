"""The README's example works as printed, against a fresh service (ports and database swapped in)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT, Service

pytestmark = pytest.mark.process


def example_block() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- readme-example[^>]*-->\n```sh\n(.*?)```", text, re.S)
    assert match, "README.md lost its example block"
    return match.group(1)


def test_readme_example_runs_as_printed(tmp_path: Path) -> None:
    svc = Service(tmp_path / "svc")
    try:
        script = example_block().replace("localhost:8080", f"localhost:{svc.http_port}").replace(
            "localhost:50051", f"localhost:{svc.grpc_port}")
        env = {**os.environ, "USERSERVICE_DATABASE": svc.database}
        out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        patched, _, rest = out.stdout.partition("}{")
        assert json.loads(patched + "}")["displayName"] == "Jane Smith"
        assert json.loads("{" + rest)["nickname"] == "jj"
    finally:
        svc.stop()
