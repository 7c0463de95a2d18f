"""Prometheus `/metrics` on 127.0.0.1 for the bus's services, with a clear error for a taken port."""

import logging

from prometheus_client import CollectorRegistry, start_http_server

from bus.errors import ConfigError

log = logging.getLogger(__name__)


def serve_metrics(port: int, registry: CollectorRegistry) -> None:
    """Serve `registry` on 127.0.0.1:`port` from a daemon thread."""
    if not 1 <= port <= 65535:  # bind() would raise OverflowError (or listen on a random port)
        raise ConfigError(f"--metrics-port {port}: a port is 1 to 65535, or 0 to turn metrics off")
    try:
        start_http_server(port, addr="127.0.0.1", registry=registry)
    except OSError as exc:
        raise ConfigError(
            f"--metrics-port {port}: cannot serve metrics on 127.0.0.1:{port} ({exc.strerror}); "
            "choose a free port, or 0 to turn metrics off"
        ) from exc
    log.info("metrics on http://127.0.0.1:%d/metrics", port)
