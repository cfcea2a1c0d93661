"""Shutdown through the real doors: a signal to the whole process group (a terminal's Ctrl-C) or to every
process of the service (systemd's default) drains in-flight REST calls through Envoy before Envoy and the
server stop; nothing is left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.helpers import figure
from tests.support import Reply, Service, gone, unique

pytestmark = [pytest.mark.process, pytest.mark.timeout(90)]
CALLS = 12


def envoy_pids(svc: Service) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(svc.process.pid), "envoy"], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid, *(p for child in children for p in tree(int(child)))]


def signal_group(svc: Service, sig: int) -> None:  # a terminal's Ctrl-C
    os.killpg(svc.process.pid, sig)


def signal_every_process(svc: Service, sig: int) -> None:  # systemd's default KillMode=control-group
    for pid in tree(svc.process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@pytest.mark.parametrize(("send", "sig"), [(signal_group, signal.SIGTERM), (signal_group, signal.SIGINT),
                                          (signal_every_process, signal.SIGTERM)])
def test_a_signal_to_the_process_group_drains_in_flight_rest_calls_then_stops_envoy(
        tmp_path: Path, send: Callable[[Service, int], None], sig: int) -> None:
    svc = Service(tmp_path / "svc", extra=["--grace", "20"])
    key = svc.key("admin")
    replies: list[Reply | str] = []

    def create_with_password() -> None:  # each call spends ~40 ms hashing in a pool of one thread
        try:
            replies.append(svc.rest("POST", "/v1/users", {"username": unique(), "password": "Draining-pass-1"},
                                    key=key))
        except OSError as exc:  # reset or refused: the call did not finish
            replies.append(type(exc).__name__)

    envoys = envoy_pids(svc)
    assert envoys, "serve runs Envoy as its child"
    threads = [threading.Thread(target=create_with_password) for _ in range(CALLS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while not replies and time.monotonic() < deadline:  # the first has been answered: the rest wait for the hash pool
        time.sleep(0.001)
    in_flight = CALLS - len(replies)
    signalled = time.monotonic()
    send(svc, sig)
    for t in threads:
        t.join(40)
    code = svc.process.wait(30)
    stopped_s = round(time.monotonic() - signalled, 2)
    svc.stop()
    statuses = [r.status if isinstance(r, Reply) else r for r in replies]
    assert in_flight >= CALLS // 2, f"the signal came after most calls had finished: nothing was tested {statuses}"
    assert statuses == [200] * CALLS, (in_flight, statuses, svc.log_path.read_text()[-2000:])
    assert code == 0
    assert all(gone(pid) for pid in envoys)
    figure("shutdown", signal=signal.Signals(sig).name, sent_to=send.__name__, in_flight=in_flight,
           completed=statuses.count(200), reset=CALLS - statuses.count(200), stopped_s=stopped_s)


def test_envoy_leaves_no_shared_memory_file_behind(tmp_path: Path) -> None:
    # Other Envoys may run on this machine: look at the files this one opens, not at /dev/shm as a whole.
    svc = Service(tmp_path / "svc")
    try:
        (envoy,) = envoy_pids(svc)
        mapped = {line.split()[-1] for line in Path(f"/proc/{envoy}/maps").read_text().splitlines()
                  if "envoy_shared_memory" in line}
    finally:
        svc.stop()
    assert not [name for name in mapped if Path(name).exists()]
    assert mapped == set()


def test_envoy_stops_when_the_server_is_killed(tmp_path: Path) -> None:
    svc = Service(tmp_path / "svc")
    envoys = envoy_pids(svc)
    assert envoys
    svc.stop(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not all(gone(pid) for pid in envoys) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(gone(pid) for pid in envoys)
    assert svc.http_port is not None
    with pytest.raises(OSError):
        svc.rest("GET", "/v1/users")
    os.killpg(svc.process.pid, signal.SIGKILL) if _group_alive(svc.process.pid) else None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
