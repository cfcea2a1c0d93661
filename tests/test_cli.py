"""The `userservice keys` command: create prints the key once, list never shows secrets, revoke works."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import BIN

pytestmark = pytest.mark.process


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "userservice"), *args], capture_output=True, text=True, timeout=60)


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/keys.db"
    made = cli("keys", "create", "--tenant", "newco", "--role", "admin", "--database", db)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("usk_")
    key_id = key.split("_")[1]
    listed = cli("keys", "list", "--database", db)
    assert key_id in listed.stdout and "newco" in listed.stdout and "admin" in listed.stdout
    assert key.split("_", 2)[2] not in listed.stdout
    assert key.split("_", 2)[2].encode() not in Path(f"{tmp_path}/keys.db").read_bytes()
    revoked = cli("keys", "revoke", key_id, "--database", db)
    assert revoked.returncode == 0 and "revoked" in cli("keys", "list", "--database", db).stdout
    again = cli("keys", "revoke", key, "--database", db)
    assert again.returncode == 1


def test_user_keys_need_an_existing_user(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/keys.db"
    missing = cli("keys", "create", "--tenant", "t", "--role", "user", "--database", db)
    assert missing.returncode == 2 and "--user" in missing.stderr
    unknown = cli("keys", "create", "--tenant", "t", "--role", "user", "--user", "usr_nobody", "--database", db)
    assert unknown.returncode == 1 and "not found" in unknown.stderr
