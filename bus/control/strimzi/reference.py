"""The Strimzi resources committed under deploy/kubernetes/generated/: the reference policy set
(policies/reference) with every grant subscribed, on a three-broker cluster, the default
retention bounds. deploy/kubernetes/generate.py writes them; a unit test checks that they are
what the generators make now."""

import time
from pathlib import Path

from bus.control.retention import RetentionSettings
from bus.control.strimzi.documents import to_yaml
from bus.control.strimzi.names import DEFAULT_CLUSTER
from bus.control.strimzi.state import every_grant
from bus.control.strimzi.topics import kafka_topics
from bus.control.strimzi.users import kafka_users
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import compile_snapshot

USERS_FILE = "kafka-users.yaml"
TOPICS_FILE = "kafka-topics.yaml"
_HEADER = (
    "Generated from {policy} (every grant subscribed) by deploy/kubernetes/generate.py;\n"
    "do not edit: regenerate (tests/unit/test_strimzi_generated.py fails when it is stale)."
)


def reference_files(policy_dir: Path, at: float | None = None) -> dict[str, str]:
    """File name → content of the generated resources for the policy set in `policy_dir`, its
    grants judged at `at` (epoch seconds; default now)."""
    snapshot = compile_snapshot(load_policy_set(policy_dir))
    subscriptions = every_grant(snapshot)
    header = _HEADER.format(policy=policy_dir.name and f"policies/{policy_dir.name}")
    users = kafka_users(snapshot, subscriptions, time.time() if at is None else at)
    topics = kafka_topics(snapshot, subscriptions, RetentionSettings(), 3, DEFAULT_CLUSTER)
    return {USERS_FILE: to_yaml(users, header), TOPICS_FILE: to_yaml(topics, header)}
