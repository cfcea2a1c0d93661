"""Child processes (Envoy, replicas; tests and benchmarks use it too): starting one that only its parent
stops, and stopping: a signal, a deadline, a kill.

A terminal's Ctrl-C and a service manager's stop (systemd's default ``KillMode=control-group``) signal
the whole process group. Envoy exits at once on SIGTERM or SIGINT, resetting the calls it carries, so
``spawn_owned`` starts it (and the replicas) in a session of its own, where no group signal reaches it:
the parent decides when it stops, after the drain. So that it never outlives a parent that is killed
(``kill -9``, OOM), it gets SIGTERM when its parent dies (Linux ``PR_SET_PDEATHSIG``, set between fork
and exec: the one thing ``subprocess`` offers no argument for).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

PR_SET_PDEATHSIG = 1
#: prctl(2), bound before any fork: the child runs no lookup between fork and exec.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with(parent: int) -> None:
    """In the child, before exec: SIGTERM when ``parent`` dies (already dead: exit now)."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)


def spawn_owned(args: Sequence[str], **popen: Any) -> subprocess.Popen[Any]:
    """Start ``args`` in a session of its own, signalled SIGTERM when this process dies.

    Call it from the thread that outlives the child (the main thread): Linux sends the signal when the
    *thread* that forked ends.
    """
    parent = os.getpid()
    return subprocess.Popen(list(args), start_new_session=True, preexec_fn=lambda: _die_with(parent), **popen)


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
