"""CPU time from /proc and getrusage: per thread of a process, per process of a server's tree, the
whole machine's busy time and the time its hypervisor took away (steal), and the load generators this
process ran. ``Meter`` takes all of them
around one measurement, so a run can say where each call's CPU went (the server, its writer
process, Envoy, h2load or wrk) and how many of the machine's cores were busy.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of every thread of ``pid``."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        out[tid] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the writer process and Envoy are children of ``userservice serve``)."""
    found = [pid]
    for task in os.listdir(f"/proc/{pid}/task"):
        for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
            found += tree(int(child))
    return found


def cpu_line() -> list[int]:
    """The machine's ``cpu`` line of /proc/stat: user nice system idle iowait irq softirq steal ... (ticks)."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def busy_seconds() -> float:
    """CPU seconds the whole machine spent running its own work (all cores; idle, iowait and steal excluded)."""
    fields = cpu_line()
    return (sum(fields[:7]) - fields[3] - fields[4]) / TICK


def steal_seconds() -> float:
    """CPU seconds the hypervisor gave to other machines while this one wanted to run (all cores): on a
    shared host, the measure of how much a run was slowed by its neighbours."""
    return cpu_line()[7] / TICK


def role(pid: int, root: int) -> str:
    """What a process of a server's tree is: ``server`` (the root), ``writer``, ``envoy`` or ``other``."""
    if pid == root:
        return "server"
    command = Path(f"/proc/{pid}/cmdline").read_bytes()
    if b"writer" in command:  # python -m service.writer, or bench.variant_server writer
        return "writer"
    return "envoy" if Path(f"/proc/{pid}/comm").read_text().strip() == "envoy" else "other"


def _own_and_children() -> float:
    """CPU seconds of this process (the rotator thread) and of its exited children (h2load, wrk)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class Meter:
    """CPU seconds by role over a block: ``with Meter(server_pid) as m: ...``, then ``m.per_call(n)``.

    Also ``main_thread``: the CPU seconds of the root process's main thread (its event loop).
    """

    root: int
    seconds: dict[str, float] = field(default_factory=dict)
    main_thread: float = 0.0
    cores: float = 0.0
    steal: float = 0.0  # cores taken by the hypervisor during the block (steal_seconds)

    def __enter__(self) -> Meter:
        self._pids = tree(self.root)
        self._before = {p: cpu_seconds(p) for p in self._pids}
        self._load, self._busy, self._wall = _own_and_children(), busy_seconds(), time.monotonic()
        self._steal = steal_seconds()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        wall = time.monotonic() - self._wall
        self.cores = (busy_seconds() - self._busy) / wall
        self.steal = (steal_seconds() - self._steal) / wall
        self.seconds = {"load": _own_and_children() - self._load}
        for pid in self._pids:
            try:
                after = cpu_seconds(pid)
            except FileNotFoundError:  # it exited during the block
                continue
            before = self._before[pid]
            if pid == self.root:
                self.main_thread = after[str(pid)] - before[str(pid)]
            name = role(pid, self.root)  # threads started during the block count from zero
            self.seconds[name] = self.seconds.get(name, 0.0) + sum(t - before.get(tid, 0.0) for tid, t in after.items())

    def per_call(self, calls: int) -> dict[str, float]:
        """Microseconds of CPU per call, by role."""
        return {name: seconds * 1e6 / max(calls, 1) for name, seconds in self.seconds.items()}
