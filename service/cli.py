"""The ``userservice`` command: ``serve``, ``keys create|list|revoke`` and ``tenants set-policy|show``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from service import logs, replicas
from service.auth import ROLES, new_key, split_key
from service.errors import ServiceError
from service.replicas import check_replicas
from service.settings import Settings
from service.storage import Store
from service.storage.postgres import DEFAULT_WORKERS
from service.users.lockout import LoginPolicy
from service.users.validation import MAX_PASSWORD, MIN_PASSWORD

DEFAULT_DATABASE = "sqlite:///data/users.db"


def _store(url: str) -> Store:
    """The store (a missing SQLite file and directory are created owner-only: storage/sqlite_file.py)."""
    return Store(url)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="userservice", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def database(p: argparse.ArgumentParser) -> None:
        p.add_argument("--database", default=os.environ.get("USERSERVICE_DATABASE", DEFAULT_DATABASE),
                       help="sqlite:///PATH (default %(default)s) or postgresql://...")

    serve = sub.add_parser("serve", help="serve gRPC, and REST through Envoy")
    database(serve)
    serve.add_argument("--grpc-port", type=int, default=50051)
    serve.add_argument("--http-port", type=int, default=8080)
    serve.add_argument("--no-envoy", action="store_true", help="serve gRPC only")
    serve.add_argument("--listen", default="127.0.0.1",
                       help="address gRPC and Envoy listen on (default %(default)s; 0.0.0.0 in a container)")
    serve.add_argument("--hash-workers", type=int, default=1, help="threads hashing passwords (default 1)")
    serve.add_argument("--password-min-length", type=int, default=MIN_PASSWORD,
                       help=f"the shortest new password, {MIN_PASSWORD}-{MAX_PASSWORD} characters (default "
                            "%(default)s; NIST SP 800-63B rev. 4 asks 15 where the password is the only factor)")
    serve.add_argument("--grace", type=float, default=10.0, help="seconds to drain calls on SIGTERM")
    serve.add_argument("--busy-timeout-ms", type=int, default=5000,
                       help="SQLite: how long a write waits for a lock held by another process before the "
                            "call fails with UNAVAILABLE (default %(default)s)")
    serve.add_argument("--sqlite-max-page-count", type=int, default=None,
                       help="test-only: cap the SQLite file at this many pages, to simulate a full disk")
    serve.add_argument("--no-writer-process", action="store_true",
                       help="write from the server process itself instead of a writer process (one process, "
                            "one interpreter lock)")
    serve.add_argument("--metrics-port", type=int, default=None,
                       help="serve Prometheus metrics on this port (default: off; 0: a free port); with "
                            "--replicas, replica i on PORT + 1 + i (docs/api.md)")
    serve.add_argument("--metrics-listen", default="127.0.0.1",
                       help="address the metrics endpoint listens on (default %(default)s)")
    serve.add_argument("--pool-size", type=int, default=None,
                       help="PostgreSQL: transactions in flight per process, in the writer process and for the "
                            f"server's reads (threads, each with a pooled connection; default {DEFAULT_WORKERS}, at "
                            "most the URL's max_connections - 1; docs/scaling.md)")
    serve.add_argument("--replicas", type=int, default=1,
                       help="server processes behind one Envoy, replica i on --grpc-port + i (PostgreSQL only)")

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key (its tenant too, if new); prints it once")
    database(create)
    create.add_argument("--tenant", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--user", help="the user a `user` key is bound to")
    listing = keys.add_parser("list", help="list keys (ids, never secrets)")
    database(listing)
    revoke = keys.add_parser("revoke", help="revoke a key, given the key or its id")
    database(revoke)
    revoke.add_argument("key")

    tenants = sub.add_parser("tenants", help="a tenant's settings").add_subparsers(dest="tenants_command",
                                                                                  required=True)
    policy = tenants.add_parser("set-policy", help="change the tenant's password-guessing settings "
                                "(docs/api.md, 'Password guessing'); 'default' restores a default")
    database(policy)
    policy.add_argument("--tenant", required=True)
    for name, (low, high) in LoginPolicy.LIMITS.items():
        policy.add_argument("--" + name.replace("_", "-"), type=_setting, metavar=f"{low}-{high}",
                            help=f"default {getattr(LoginPolicy(), name)}")
    show = tenants.add_parser("show", help="the tenant's password-guessing settings in force")
    database(show)
    show.add_argument("--tenant", required=True)
    return parser


def _setting(text: str) -> int | str:
    return "default" if text == "default" else int(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.setup()
    if args.command == "serve":
        refusal = check_replicas(args.database, args.replicas)
        if not MIN_PASSWORD <= args.password_min_length <= MAX_PASSWORD:
            refusal = f"--password-min-length must be {MIN_PASSWORD}-{MAX_PASSWORD}"
        if refusal:
            print(f"error: {refusal}", file=sys.stderr)
            return 2
        try:  # fail here, clearly, if the database is unreachable; migrate once, before any replica
            _store(args.database).close()
        except ServiceError as err:
            cause = str(err.__cause__).strip().splitlines()[0] if err.__cause__ else ""
            print(f"error: {err.message}" + (f" ({cause})" if cause else ""), file=sys.stderr)
            return 1
        if args.replicas > 1:
            return replicas.run(args.database, args.replicas, args.grpc_port,
                                None if args.no_envoy else args.http_port,
                                hash_workers=args.hash_workers, grace=args.grace, listen=args.listen,
                                pool_size=args.pool_size,
                                metrics_port=args.metrics_port, metrics_listen=args.metrics_listen,
                                password_min_length=args.password_min_length)
        asyncio.run(_serve(args))
        return 0
    store = _store(args.database)
    try:
        if args.command == "tenants":
            return _tenants(store, args)
        if args.keys_command == "create":
            if (args.role == "user") != bool(args.user):
                print("error: --user is required with --role user, and only with it", file=sys.stderr)
                return 2
            key_id, key, secret_hash = new_key()
            try:
                store.keys.create_key(args.tenant, args.role, args.user, secret_hash, key_id)
            except ServiceError as err:
                print(f"error: {err.message}", file=sys.stderr)
                return 1
            print(f"created {args.role} key {key_id} for tenant {args.tenant}; it is shown only once:")
            print(key)
        elif args.keys_command == "list":
            for k in store.keys.keys():  # noqa: SIM118 - API keys, not a dict
                state = "revoked" if k.revoked else "active"
                print(f"{k.id}\t{k.tenant_name}\t{k.role}\t{k.user_id or '-'}\t{state}")
        elif args.keys_command == "revoke":
            parts = split_key(args.key)
            key_id = parts[0] if parts else args.key
            if not store.keys.revoke_key(key_id):
                print(f"error: no active key {key_id}", file=sys.stderr)
                return 1
            print(f"revoked {key_id}")
    finally:
        store.close()
    return 0


def _tenants(store: Store, args: argparse.Namespace) -> int:
    """``tenants set-policy`` and ``tenants show``: one line per setting, ``name value``."""
    tenant_id = store.keys.tenant_id(args.tenant, create=args.tenants_command == "set-policy")
    if tenant_id is None:
        print(f"error: no tenant {args.tenant!r}", file=sys.stderr)
        return 1
    if args.tenants_command == "set-policy":
        changes = {name: None if getattr(args, name) == "default" else getattr(args, name)
                   for name in LoginPolicy.LIMITS if getattr(args, name) is not None}
        try:
            policy = store.policies.set(tenant_id, changes)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    else:
        policy = store.policies.get(tenant_id)
    for name in LoginPolicy.LIMITS:
        print(f"{name} {getattr(policy, name)}")
    return 0


def settings(args: argparse.Namespace) -> Settings:
    return Settings(database=args.database, grpc_port=args.grpc_port,
                    http_port=None if args.no_envoy else args.http_port, listen=args.listen,
                    hash_workers=args.hash_workers, password_min_length=args.password_min_length,
                    grace=args.grace, busy_timeout_ms=args.busy_timeout_ms,
                    writer_process=not args.no_writer_process, replicas=args.replicas,
                    sqlite_max_page_count=args.sqlite_max_page_count, metrics_port=args.metrics_port,
                    metrics_listen=args.metrics_listen, pool_size=args.pool_size)


async def _serve(args: argparse.Namespace) -> None:
    from service.server import serve

    await serve(settings(args))


if __name__ == "__main__":
    sys.exit(main())
