"""CPU time of one UpdateUser write transaction in process: ``store.users.run`` on the 10,000-user dataset.

    .venv/bin/python -m bench.transaction [--calls 2000]

What the writer process spends per update, without gRPC, the socket crossing or the load generator;
process CPU time, so other load on the machine moves it little.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bench import dataset
from service.auth import Principal
from service.storage import Store
from service.users.update import prepare_update
from tests import factories


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-transaction-") as tmp:
        db = Path(tmp) / "bench.db"
        dataset.build(db, 10_000, "not-a-hash")
        store = Store(f"sqlite:///{db}")
        tenant = store.keys.tenant_id(dataset.TENANT)
        assert tenant is not None
        who = Principal("bench", tenant, dataset.TENANT, "admin", None)
        rng = random.Random(1)
        commands = [prepare_update(who, factories.update(
            dataset.user_id(rng.randrange(10_000), 4), ["display_name", "given_name"], display_name=f"Name {i}",
            given_name=f"Given {i}")) for i in range(1000 + args.calls)]
        for command in commands[:1000]:  # warm-up
            store.users.run(command)
        start = time.process_time()
        for command in commands[1000:]:
            store.users.run(command)
        spent = time.process_time() - start
        store.close()
    print(f"{spent / args.calls * 1e6:.0f} us of CPU per write transaction ({args.calls} updates)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
