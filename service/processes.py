"""Stopping child processes (Envoy, replicas; tests and benchmarks use it too): a signal, a deadline, a kill."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Sequence
from typing import Any


def stop_all(processes: Sequence[subprocess.Popen[Any]], timeout: float, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to every running process, wait for all until one shared deadline, then kill the rest."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.send_signal(sig)
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop(process: subprocess.Popen[Any], timeout: float, sig: int = signal.SIGTERM) -> int:
    """Stop one process the same way; returns its exit code."""
    stop_all([process], timeout, sig)
    return int(process.returncode)
