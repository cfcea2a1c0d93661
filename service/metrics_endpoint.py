"""The ``--metrics-port`` endpoint (``service.metrics.start`` opens it): our registry in Prometheus's text
format, then Envoy's stats, read from its admin interface on a Unix socket at each scrape.
"""

from __future__ import annotations

import logging
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from service.unixhttp import UnixHTTPConnection

log = logging.getLogger("userservice")
#: Prometheus's text format 0.0.4: what Envoy writes, and what prometheus-client writes with its default escaping.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# ---- Envoy's stats --------------------------------------------------------------------------------------
def envoy_stats(admin_socket: str, timeout: float = 2.0) -> bytes:
    """Envoy's own stats in Prometheus text, from its admin interface on a Unix socket (empty if it is down)."""
    connection = UnixHTTPConnection(admin_socket, timeout)
    try:
        connection.request("GET", "/stats/prometheus?usedonly")
        reply = connection.getresponse()
        return reply.read() if reply.status == 200 else b""
    except OSError as exc:  # Envoy stopping or restarting: this scrape has no Envoy stats
        log.warning("envoy stats unavailable", extra={"error": str(exc)})
        return b""
    finally:
        connection.close()


# ---- the endpoint ---------------------------------------------------------------------------------------
class Exporter:
    """The running endpoint (``GET /metrics``, any path answers the same); ``close()`` stops it.

    Our registry in Prometheus's text format, then Envoy's stats as Envoy wrote them. Not
    prometheus-client's own ``start_http_server``: re-emitting Envoy's text through its parser renames
    Envoy's counters (``envoy_http_downstream_rq_xx`` becomes ``..._total``), and appending to its
    answer would break its OpenMetrics and gzip variants; this one speaks text format 0.0.4 only.
    """

    def __init__(self, port: int, listen: str, registry: Any, directory: str | None) -> None:
        from prometheus_client import generate_latest

        self.registry, self.directory = registry, directory
        self.envoy_socket: str | None = None
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = generate_latest(registry)
                if exporter.envoy_socket is not None:
                    body += envoy_stats(exporter.envoy_socket)
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # scrapes are not logged
                pass

        self.server = ThreadingHTTPServer((listen, port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True).start()

    def add_envoy(self, admin_socket: str) -> None:
        self.envoy_socket = admin_socket

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
