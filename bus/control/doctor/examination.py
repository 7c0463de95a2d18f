"""One examination: every check of `bus doctor`, run as the operator, each kept from stopping the
others (a check that cannot run is reported as a finding: unseen is not healthy)."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bus.control import policy_store, subscriptions
from bus.control.doctor.certificates import check_certificates
from bus.control.doctor.drift import check_acl_drift, check_retention_drift
from bus.control.doctor.finding import CheckResult, Finding
from bus.control.doctor.lag import check_lag
from bus.control.doctor.listeners import check_listeners
from bus.control.doctor.replication_check import check_replication
from bus.control.doctor.service_rights import (
    check_open_principals,
    check_service_acls,
    check_service_profiles,
)
from bus.control.retention import RetentionSettings
from bus.control.service_principals import ENFORCER_GROUP
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.policy.snapshot import compile_snapshot, empty_snapshot


@dataclass(frozen=True)
class DoctorSettings:
    """What `bus doctor` is told.

    Parameters:
        profiles_dir: where the services' profiles are, to check who they connect as (None: skip).
        cert_within: a certificate expiring within this is a problem.
        lag_limit: an ingress topic more records behind than this is a problem.
        enforcer_group: the enforcer's consumer group.
        retention: the retention bounds (BUS_RETENTION_*).
    """

    profiles_dir: Path | None
    cert_within: timedelta = timedelta(days=30)
    lag_limit: int = 10_000
    enforcer_group: str = ENFORCER_GROUP
    retention: RetentionSettings = field(default_factory=RetentionSettings)


def examine(connection: KafkaConnection, settings: DoctorSettings) -> list[CheckResult]:
    """Run every check as `connection` (the operator) and return each one's result."""
    admin = KafkaAdmin(connection)
    in_force = asyncio.run(policy_store.read_in_force(connection))
    snapshot = empty_snapshot() if in_force.policy is None else compile_snapshot(in_force.policy)
    registry = asyncio.run(subscriptions.read_in_force(connection))
    subscribed = frozenset(registry.subscriptions)
    policy_name = "no policy in force" if in_force.policy is None else snapshot.hash[:19]
    checks: list[tuple[str, str, Callable[[], list[Finding]]]] = [
        ("tls", "every broker's listeners", lambda: check_listeners(admin)),
        (
            "principals",
            "wildcard and anonymous ACLs, the services' own ACLs",
            lambda: (
                check_open_principals(admin.describe_acls_of(None))
                + check_service_acls(admin.describe_acls_of(None))
            ),
        ),
        (
            "acl-drift",
            f"agencies' ACLs against {policy_name}",
            lambda: check_acl_drift(admin, snapshot, subscribed),
        ),
        ("replication", "the bus's and Kafka's internal topics", lambda: check_replication(admin)),
        (
            "retention",
            f"the bus's topics against the retention rule ({policy_name})",
            lambda: check_retention_drift(admin, snapshot, settings.retention),
        ),
        (
            "certificates",
            f"the CA and every broker's certificate (within {settings.cert_within.days} days)",
            lambda: check_certificates(admin, connection, settings.cert_within),
        ),
        (
            "lag",
            f"the enforcer group {settings.enforcer_group} (limit {settings.lag_limit} records)",
            lambda: check_lag(admin, settings.enforcer_group, settings.lag_limit),
        ),
    ]
    if settings.profiles_dir is not None:
        directory = settings.profiles_dir
        checks.append(
            (
                "services",
                f"the services' profiles in {directory}",
                lambda: check_service_profiles(directory),
            )
        )
    return [_run(name, looked_at, check) for name, looked_at, check in checks]


def _run(name: str, looked_at: str, check: Callable[[], list[Finding]]) -> CheckResult:
    try:
        findings = tuple(check())
    except Exception as exc:  # one check failing must not hide the others' findings
        findings = (
            Finding(name, f"could not check: {type(exc).__name__}: {exc}", "see the message"),
        )
    return CheckResult(name, looked_at, findings)
