"""Prometheus metrics of the webhook bridge. The registry is a parameter (no global), so tests and
several bridges in one process do not collide."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class BridgeMetrics:
    """Deliveries posted, retries, dead letters, HTTP request durations and consumer lag.

    Parameters:
        registry: the Prometheus registry to register them on.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.posted = Counter(
            "bus_bridge_posted_total", "Deliveries the receiver accepted (2xx).", registry=registry
        )
        self.retries = Counter(
            "bus_bridge_retries_total",
            "Attempts that failed and were retried.",
            ["cause"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "bus_bridge_dead_letters_total",
            "Deliveries dead-lettered.",
            ["reason"],
            registry=registry,
        )
        self.http = Histogram(
            "bus_bridge_http_request_seconds",
            "One POST to the receiver, answer or not.",
            buckets=_HTTP_BUCKETS,
            registry=registry,
        )
        self.lag = Gauge(
            "bus_bridge_consumer_lag_records",
            "Deliveries not yet handled, per delivery topic partition.",
            ["topic", "partition"],
            registry=registry,
        )
