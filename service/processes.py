"""Child processes (Envoy, replicas; tests and benchmarks use it too): starting one that only its parent
stops, and stopping: a signal, a deadline, a kill.

A terminal's Ctrl-C signals the whole process group, and a service manager's stop (systemd's default
``KillMode=control-group``) every process of the service. Envoy exits at once on SIGTERM or SIGINT,
resetting the calls it carries, so ``spawn_owned`` can start a child that the parent alone stops: in a
session of its own (no group signal reaches it) and, with ``deaf``, with SIGTERM and SIGINT blocked (a
signal mask survives exec; Envoy installs handlers but never unblocks them), so that no signal sent to
every process reaches it either; its parent stops it another way (Envoy: its admin ``/quitquitquit``).
So that it never outlives a parent that is killed (``kill -9``, OOM), it gets ``death_signal`` when its
parent dies (Linux ``PR_SET_PDEATHSIG``). Both are set between fork and exec: ``subprocess`` has no
argument for them.
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


#: What ``deaf`` blocks: the signals a terminal or a service manager sends to stop everything.
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


def _prepare_child(parent: int, death_signal: int, deaf: bool) -> None:
    """In the child, before exec: ``death_signal`` when ``parent`` dies (already dead: exit now)."""
    if deaf:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, death_signal)
        if os.getppid() != parent:
            os._exit(1)


def spawn_owned(args: Sequence[str], *, death_signal: int = signal.SIGTERM, deaf: bool = False,
                **popen: Any) -> subprocess.Popen[Any]:
    """Start ``args`` in a session of its own, sent ``death_signal`` when this process dies; ``deaf``:
    with SIGTERM and SIGINT blocked (then ``death_signal`` must be one they do not block: SIGKILL).

    Call it from the thread that outlives the child (the main thread): Linux sends the signal when the
    *thread* that forked ends.
    """
    parent = os.getpid()
    return subprocess.Popen(list(args), start_new_session=True,
                            preexec_fn=lambda: _prepare_child(parent, death_signal, deaf), **popen)


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
