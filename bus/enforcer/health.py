"""How current the state in force is: Prometheus metrics and the `/healthz` report of the enforcer.

The state watcher reports into this; the gauges read it when scraped, so an age keeps growing
while nothing refreshes (a stuck or dead watcher cannot freeze its own alarm)."""

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass(frozen=True)
class StateHealth:
    """One report on the state in force, as the state watcher sees it; `/healthz` serves it as
    JSON with its `status`."""

    proceeding: bool  # may the enforcer process records now (otherwise consumption is paused)
    watcher_running: bool
    state_age_s: float  # since the last successful refresh of policy and subscriptions
    staleness_limit_s: float
    policy: str | None  # the snapshot hash in force
    subscriptions: int
    refused_records: int  # records on the state topics refused in the last reading
    acls_in_sync: bool
    acls_synced_age_s: float  # since the last successful ACL sync
    failures_in_a_row: int
    last_error: str | None
    paused_because: str | None = None  # why the enforcer may not proceed (None while it may)
    subscriptions_held_back: int = 0  # not in force yet: their topics could not be created

    @property
    def status(self) -> str:
        """paused: nothing is processed; degraded: enforcing, but ACLs are out of sync, records
        on the state topics are refused or subscriptions held back (an operator should look); ok."""
        if not self.proceeding:
            return "paused"
        troubled = self.refused_records or self.subscriptions_held_back
        return "ok" if self.acls_in_sync and not troubled else "degraded"

    def to_json(self) -> dict[str, object]:
        """The report as a JSON object: `status` first, then every field."""
        # JSON has no infinity: "never" is null.
        fields = {
            k: None if isinstance(v, float) and math.isinf(v) else v
            for k, v in asdict(self).items()
        }
        return {"status": self.status, **fields}


STARTING = StateHealth(
    proceeding=False,
    watcher_running=False,
    state_age_s=math.inf,
    staleness_limit_s=math.inf,
    policy=None,
    subscriptions=0,
    refused_records=0,
    acls_in_sync=False,
    acls_synced_age_s=math.inf,
    failures_in_a_row=0,
    last_error=None,
    paused_because="starting: no state read yet",
)


class EnforcerHealth:
    """Metrics of the state watcher on `registry`, and the report `/healthz` serves.

    The watcher `attach`es its report; until then the report says the enforcer is starting.

    Parameters:
        registry: the Prometheus registry to register on; a private one if None.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self._source: Callable[[], StateHealth] = lambda: STARTING
        self.refresh_failures = Counter(
            "bus_enforcer_state_refresh_failures_total",
            "Failed refreshes of policy and subscriptions (retried with backoff).",
            ["error"],
            registry=registry,
        )
        self.acl_sync_failures = Counter(
            "bus_enforcer_acl_sync_failures_total",
            "Failed ACL syncs (retried with backoff).",
            ["error"],
            registry=registry,
        )
        self.topic_failures = Counter(
            "bus_enforcer_topic_failures_total",
            "Failed topic creations for a new state (its subscriptions are held back, retried).",
            ["error"],
            registry=registry,
        )
        self.refused = Counter(
            "bus_enforcer_state_records_refused_total",
            "Records on the policy or subscriptions topic refused as malformed (counted once).",
            ["topic"],
            registry=registry,
        )
        gauges = {
            "bus_enforcer_state_age_seconds": (
                "Seconds since policy and subscriptions were last refreshed.",
                lambda h: h.state_age_s,
            ),
            "bus_enforcer_paused": (
                "1 while consumption is paused: the state in force is stale or not followed.",
                lambda h: float(not h.proceeding),
            ),
            "bus_enforcer_policy_in_force": (
                "1 while a valid policy set is in force (without one, consumption pauses).",
                lambda h: float(h.policy is not None),
            ),
            "bus_enforcer_subscriptions_held_back": (
                "Subscriptions not in force because their topics could not be created.",
                lambda h: float(h.subscriptions_held_back),
            ),
            "bus_enforcer_state_refused_records": (
                "Records refused in the last reading of the state topics (alert while > 0).",
                lambda h: float(h.refused_records),
            ),
            "bus_enforcer_acls_in_sync": (
                "1 when the last ACL sync succeeded.",
                lambda h: float(h.acls_in_sync),
            ),
            "bus_enforcer_acl_sync_age_seconds": (
                "Seconds since ACLs were last synced with the state in force.",
                lambda h: h.acls_synced_age_s,
            ),
        }
        for name, (help_text, read) in gauges.items():
            Gauge(name, help_text, registry=registry).set_function(self._reading(read))

    def attach(self, source: Callable[[], StateHealth]) -> None:
        """Take reports from `source` from now on (the state watcher's `health`)."""
        self._source = source

    def report(self) -> StateHealth:
        """The current report."""
        return self._source()

    def healthz(self) -> tuple[bool, dict[str, object]]:
        """For /healthz: healthy while the enforcer may process records."""
        report = self.report()
        return report.proceeding, report.to_json()

    def _reading(self, read: Callable[[StateHealth], float]) -> Callable[[], float]:
        return lambda: read(self.report())
