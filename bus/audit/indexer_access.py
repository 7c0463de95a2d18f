"""The audit trail's own principals: the indexer and the verifier, each with the least it needs.

`audit-indexer` may READ the audit and policy topics and READ and WRITE the witness topic (its
checkpoints; it alone may write there). `audit-verifier` may only READ the witness topic. Neither
holds admin rights: whoever runs `bus audit index` or `verify` needs the admin once (to create
the user and its ACLs), the process then connects as that user.
"""

import asyncio

from bus.audit.witness import Witness, read_witness
from bus.control.credentials import ensure_credentials
from bus.control.service_principals import (
    INDEXER_USER,
    VERIFIER_USER,
    indexer_acls,
    verifier_acls,
)
from bus.devenv import broker
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.settings import load_kafka_settings
from bus.keys.keystore import AgencyPublicKey

FRESH_USER_WAIT_S = 15.0  # a user or ACL created just now takes a moment to reach the broker


def indexer_connection(
    admin: KafkaAdmin,
    admin_connection: KafkaConnection,
    audit_topic: str,
    policy_topic: str,
    witness_topic: str | None = None,
) -> KafkaConnection:
    """Create (idempotently) the indexer's user and ACLs; its connection. `witness_topic`:
    by default `audit_topic`.checkpoints."""
    credentials = ensure_credentials(admin, INDEXER_USER)
    admin.create_acls(indexer_acls(audit_topic, policy_topic, witness_topic))
    return admin_connection.as_user(credentials.username, credentials.password)


def verifier_connection(
    admin: KafkaAdmin, admin_connection: KafkaConnection, witness_topic: str
) -> KafkaConnection:
    """Create (idempotently) the verifier's user and its one ACL; its connection."""
    credentials = ensure_credentials(admin, VERIFIER_USER)
    admin.create_acls(verifier_acls(witness_topic))
    return admin_connection.as_user(credentials.username, credentials.password)


def witness_as_verifier(topic: str, key: AgencyPublicKey) -> Witness:
    """The witness topic as of now, read as `audit-verifier` (made here, as the bus admin).
    Not from inside a running event loop (`bus audit verify`, the API's worker threads)."""
    admin_connection = broker.admin_connection(load_kafka_settings())
    connection = verifier_connection(KafkaAdmin(admin_connection), admin_connection, topic)
    return asyncio.run(read_witness(connection, topic, key, wait_s=FRESH_USER_WAIT_S))
