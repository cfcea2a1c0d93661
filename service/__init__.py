"""userservice: reads and updates users over gRPC, REST (Envoy) and grpcurl.

The generated protobuf modules live in ``generated/`` and are importable as ``userservice.v1``.

Importing this package turns grpc's fork handlers off (``GRPC_ENABLE_FORK_SUPPORT=false``, unless the
environment says otherwise), so it must be imported before ``grpc`` is: ``tests/__init__.py`` and
``bench/__init__.py`` import it first for that reason. Those handlers serve a process that forks and goes on
running gRPC in the child. Every process of ours forks only to exec another program (Envoy, the writer,
replicas, ``service.processes.spawn_owned``; the tests' servers). With the handlers on, grpcio 1.85 restarts
its poller in the child between fork and exec, and ``subprocess`` closing the child's descriptors then makes
that poller abort the child: 14 of 500 children started with a ``preexec_fn`` while two threads made gRPC
calls died with SIGABRT, against 0 of 500 with the handlers off (grpc/grpc#43055; docs/reliability.md).
"""

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
