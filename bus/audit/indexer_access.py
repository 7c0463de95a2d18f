"""The audit trail's own principals: the indexer and the verifier, each with the least it needs.

`audit-indexer` may READ the audit and policy topics and READ and WRITE the witness topic (its
checkpoints; it alone may write there). `audit-verifier` may only READ the witness topic. Each
connects with its own connection profile (roles "audit-indexer" and "audit-verifier",
docs/connection-profile.md); neither ever holds the broker's admin password. Their users, and
their ACLs on the bus's own topics, come with the installation (in the lab: `bus kafka up`); ACLs
on other topics the operator grants (`grant_indexer`, `bus audit grant-indexer`).
"""

import asyncio
from pathlib import Path

from bus.audit.witness import Witness, read_witness
from bus.control.service_principals import indexer_acls, verifier_acls
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.profile import load_profile
from bus.kafka.topics import checkpoints_topic
from bus.keys.keystore import AgencyPublicKey

INDEXER_ROLE = "audit-indexer"
VERIFIER_ROLE = "audit-verifier"
FRESH_USER_WAIT_S = 15.0  # an ACL created just now takes a moment to reach the broker


def grant_indexer(
    operator: KafkaAdmin, audit_topic: str, policy_topic: str, witness_topic: str | None = None
) -> None:
    """As the operator (`operator`: a principal with the cluster's ALTER), give `audit-indexer`
    its ACLs on these topics and `audit-verifier` its READ on the witness topic (by default
    `audit_topic`.checkpoints). Idempotent."""
    witness = witness_topic or checkpoints_topic(audit_topic)
    operator.create_acls(indexer_acls(audit_topic, policy_topic, witness) | verifier_acls(witness))


def indexer_connection(
    operator: KafkaAdmin,
    audit_topic: str,
    policy_topic: str,
    witness_topic: str | None = None,
    profile: Path | None = None,
) -> KafkaConnection:
    """`grant_indexer` (as the explicitly given `operator`), then the indexer's connection from its
    profile: for tests and the demo on topics of their own."""
    grant_indexer(operator, audit_topic, policy_topic, witness_topic)
    return load_profile(INDEXER_ROLE, profile)


def verifier_connection(
    operator: KafkaAdmin, witness_topic: str, profile: Path | None = None
) -> KafkaConnection:
    """The verifier's READ on `witness_topic` (granted by the explicitly given `operator`), then
    its connection from its profile."""
    operator.create_acls(verifier_acls(witness_topic))
    return load_profile(VERIFIER_ROLE, profile)


def witness_as_verifier(topic: str, key: AgencyPublicKey, profile: Path | None = None) -> Witness:
    """The witness topic as of now, read as `audit-verifier` (its profile: `profile`, else
    $BUS_PROFILE, else its default file). Not from inside a running event loop (`bus audit
    verify`, the API's worker threads)."""
    connection = load_profile(VERIFIER_ROLE, profile)
    return asyncio.run(read_witness(connection, topic, key, wait_s=FRESH_USER_WAIT_S))
