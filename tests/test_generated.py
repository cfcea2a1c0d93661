"""generated/ is what `make generate` makes from proto/, byte for byte (CONTRACT section 1)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from google.protobuf import descriptor_pb2

from tests.support import ROOT

GOOGLE_PROTOS = ["google/api/annotations.proto", "google/api/http.proto", "google/api/field_behavior.proto",
                 "google/api/client.proto", "google/api/launch_stage.proto", "google/api/resource.proto",
                 "google/rpc/status.proto", "google/rpc/error_details.proto"]


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def test_generated_code_matches_a_fresh_generate(tmp_path: Path) -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert all(p in makefile for p in GOOGLE_PROTOS), "keep this list in step with the Makefile's"
    out = subprocess.run(["build/generate.sh", sys.executable, sysconfig.get_paths()["purelib"], str(tmp_path),
                          *GOOGLE_PROTOS], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    fresh, committed = files(tmp_path), files(ROOT / "generated")
    assert sorted(fresh) == sorted(committed)
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale generated files (run `make generate`): {stale}"


def test_descriptor_set_has_what_envoy_needs() -> None:
    fds = descriptor_pb2.FileDescriptorSet.FromString((ROOT / "generated" / "userservice.pb").read_bytes())
    names = {f.name for f in fds.file}
    assert {"google/rpc/status.proto", "google/rpc/error_details.proto", "google/api/http.proto",
            "userservice/v1/user_service.proto"} <= names
