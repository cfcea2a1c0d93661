"""Instructions per ``UserService.update``, in-process, counted by callgrind: repeatable on a noisy machine.

    .venv/bin/python -m bench.instructions [--calls 1000]
    .venv/bin/python -m bench.instructions --sections    # thread CPU per part of an update, no valgrind

Runs this module twice under ``valgrind --tool=callgrind`` (300 warm-up updates, then ``--calls`` more,
and once with none) and prints (difference of the totals) / calls. Each update is the request of
``make bench`` (two masked fields, no password) on a random user of a fresh copy of a 10,000-user
database, through a real Store; no gRPC, no access log, WAL checkpoints left out (they run on a thread of
their own in the server).

(The ``--sections`` experiment of earlier rounds was retired with the private names it patched.)
experiment on: the thread CPU time of each part of an update in-process, to set beside the same figures
under load (``python -m bench.decompose - sections``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WARM_UP = 300


def run_updates(calls: int, workdir: Path) -> None:
    from bench import dataset
    from bench.run import update_request
    from service.auth import Principal
    from service.passwords import Hasher, make_context
    from service.storage import Store
    from service.users.servicer import UserService
    from service.writer import InProcess

    template = workdir / "template.db"
    if not template.exists():
        dataset.build(template, 10_000, make_context().hash(dataset.PASSWORD))
    db = workdir / f"run-{calls}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(template, db)
    store = Store(f"sqlite:///{db}")
    store.db.execute_sql("PRAGMA wal_autocheckpoint = 0")
    tenant = store.keys.tenant_id(dataset.TENANT)
    assert tenant is not None
    service = UserService(store, Hasher(), InProcess(store))
    who = Principal("bench", tenant, dataset.TENANT, "admin", None)
    rng = random.Random(1)
    requests = []
    for i in range(WARM_UP + calls):
        request = update_request(dataset.user_id(rng.randrange(10_000), 4))
        request.user.display_name, request.user.given_name = f"Name {i:08d}", f"Given {i:08d}"
        requests.append(request)

    async def go() -> None:
        for request in requests:
            await service.update(who, request)

    asyncio.run(go())
    store.close()


def count(calls: int, workdir: Path) -> int:
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m",
                          "bench.instructions", "--inner", str(calls), "--workdir", str(workdir)],
                         capture_output=True, text=True, check=True, timeout=1800)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if not found:
        raise RuntimeError(out.stderr[-2000:])
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--inner", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner is not None:
        run_updates(args.inner, args.workdir)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp:
        workdir = Path(tmp)
        run_updates(0, workdir)  # builds the template outside valgrind
        with_calls, without = count(args.calls, workdir), count(0, workdir)
    print(f"{(with_calls - without) / args.calls:,.0f} instructions per UserService.update "
          f"({args.calls} calls after {WARM_UP} warm-up calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
