"""The broker as the policy in force says it should be: agencies' ACLs, and the retention of the
bus's topics. Drift is what `bus acl sync` and `bus topics reconcile` would change."""

import time

from bus.control.acls import describe, desired_acls, planned_acl_changes
from bus.control.doctor.finding import Finding
from bus.control.retention import RetentionRule, RetentionSettings, reconcile
from bus.kafka.admin import KafkaAdmin
from bus.policy.facts import Subscription
from bus.policy.snapshot import Snapshot


def check_acl_drift(
    admin: KafkaAdmin, snapshot: Snapshot, subscriptions: frozenset[Subscription]
) -> list[Finding]:
    """A finding per agency ACL the policy and subscriptions justify but the broker lacks, and
    per ALLOW the broker holds that nothing justifies."""
    planned = planned_acl_changes(admin, desired_acls(snapshot, subscriptions, time.time()))
    missing = [
        Finding("acl-drift", f"missing: {describe(acl)}", "bus acl sync")
        for acl in sorted(planned.added, key=str)
    ]
    unjustified = [
        Finding("acl-drift", f"not justified by the policy: {describe(acl)}", "bus acl sync")
        for acl in sorted(planned.removed, key=str)
    ]
    return missing + unjustified


def check_retention_drift(
    admin: KafkaAdmin, snapshot: Snapshot, settings: RetentionSettings
) -> list[Finding]:
    """A finding per topic setting that differs from the retention rule."""
    rule = RetentionRule.of(snapshot, settings)
    changes = reconcile(admin, rule.wanted(admin.list_topics()), dry_run=True)
    return [
        Finding(
            "retention",
            f"{c.topic} {c.key} is {c.old}, the rule says {c.new}",
            "bus topics reconcile",
        )
        for c in changes
    ]
