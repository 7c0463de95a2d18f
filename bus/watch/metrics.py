"""Prometheus metrics of the oversight watch: what it read, what it raised, what it could not
read, and how far its clock of the audit stream is behind (an operator alerts on a watch that
stopped reading: deploy/prometheus/alerts.yml). The registry is a parameter, no global."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class WatchMetrics:
    """The watch's metrics.

    Parameters:
        registry: the Prometheus registry to register them on.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter(
            "bus_watch_records_total",
            "Audit records the watch observed.",
            registry=registry,
        )
        self.unreadable = Counter(
            "bus_watch_records_unreadable_total",
            "Records on the audit topic that are not audit records (skipped, logged).",
            registry=registry,
        )
        self.alerts = Counter(
            "bus_watch_alerts_total",
            "Alerts sent to the alerts topic, by rule (a re-sent alert with newer figures counts).",
            ["rule"],
            registry=registry,
        )
        self.record_age = Gauge(
            "bus_watch_record_age_seconds",
            "Age of the newest audit record observed, when it was observed.",
            registry=registry,
        )
        self.observe_seconds = Histogram(
            "bus_watch_observe_seconds",
            "Time to apply every rule to one audit record.",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
            registry=registry,
        )
