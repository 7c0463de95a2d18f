"""Prometheus metrics of the auditor API: requests by route (the template, not the path, so a
decision id never becomes a label), status and role, and their duration. Served on a port of
their own, never on the API's, so scraping needs no token and shows no data."""

from prometheus_client import CollectorRegistry, Counter, Histogram

_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ApiMetrics:
    """The auditor API's request counter and duration histogram.

    Parameters:
        registry: the Prometheus registry to register them on.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "bus_audit_api_requests_total",
            "Requests answered.",
            ["route", "method", "status", "role"],
            registry=registry,
        )
        self.seconds = Histogram(
            "bus_audit_api_request_seconds",
            "Time to answer one request (access log included).",
            ["route"],
            buckets=_SECONDS_BUCKETS,
            registry=registry,
        )

    def answered(self, route: str, method: str, status: int, role: str, seconds: float) -> None:
        """Count one answered request to the route template `route`, and how long it took."""
        self.requests.labels(route, method, str(status), role).inc()
        self.seconds.labels(route).observe(seconds)
