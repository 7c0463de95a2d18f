"""Prometheus `/metrics` on 127.0.0.1 for the bus's services, with a clear error for a taken port;
optionally `/healthz` beside it (200 while healthy, else 503; a JSON report either way)."""

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import CollectorRegistry, make_wsgi_app

from bus.errors import ConfigError

log = logging.getLogger(__name__)

# Whether the service is healthy, and what it reports about itself.
HealthCheck = Callable[[], tuple[bool, Mapping[str, object]]]


def serve_metrics(
    port: int, registry: CollectorRegistry, health: HealthCheck | None = None
) -> None:
    """Serve `registry` (and `health` on /healthz) on 127.0.0.1:`port` from a daemon thread."""
    app = make_wsgi_app(registry)
    if health is not None:
        app = _with_health(app, health)
    try:
        server = make_server("127.0.0.1", port, app, _Server, handler_class=_Quiet)
    except OSError as exc:
        raise ConfigError(
            f"--metrics-port {port}: cannot serve metrics on 127.0.0.1:{port} ({exc.strerror}); "
            "choose a free port, or 0 to turn metrics off"
        ) from exc
    threading.Thread(target=server.serve_forever, name=f"metrics-{port}", daemon=True).start()
    log.info("metrics on http://127.0.0.1:%d/metrics", port)


def _with_health(metrics: WSGIApplication, health: HealthCheck) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/healthz":
            return metrics(environ, start_response)
        healthy, report = health()
        body = json.dumps(report).encode()
        status = "200 OK" if healthy else "503 Service Unavailable"
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        start_response(status, headers)
        return [body]

    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow scraper never holds up shutdown


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Scrapes every few seconds are not worth a log line."""
