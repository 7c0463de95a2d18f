"""The consumer SDK's Prometheus metrics, on a registry of its own (served only when the back
office opts in with a port, as it runs inside someone else's process)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bus.util.metrics_endpoint import serve_metrics


class ConsumerMetrics:
    """Counters and timings of one consumer; `serve(port)` exposes them on 127.0.0.1."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        labels = ["purpose", "event_type"]
        self.applied = Counter(
            "bus_consumer_applied_total",
            "Deliveries whose handler committed.",
            labels,
            registry=self.registry,
        )
        self.duplicates = Counter(
            "bus_consumer_duplicates_total",
            "Deliveries skipped: already in the inbox (a redelivery or a republished copy).",
            ["purpose"],
            registry=self.registry,
        )
        self.retries = Counter(
            "bus_consumer_retries_total",
            "Handler attempts that failed and were retried.",
            labels,
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "bus_consumer_dead_letters_total",
            "Deliveries parked on the agency's dead-letter topic, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "bus_consumer_handler_seconds",
            "Time of one handler attempt with its inbox transaction.",
            labels,
            registry=self.registry,
        )
        self.lag = Gauge(
            "bus_consumer_lag_records",
            "Records on a delivery partition not yet handled (high watermark - next offset).",
            ["topic", "partition"],
            registry=self.registry,
        )

    def serve(self, port: int) -> None:
        """Serve /metrics on 127.0.0.1:`port` from a daemon thread (ConfigError if taken)."""
        serve_metrics(port, self.registry)
