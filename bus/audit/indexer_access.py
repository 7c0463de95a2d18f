"""The indexer's own principal: it may READ the audit and policy topics, nothing else.

It holds no admin rights: whoever runs `bus audit index` needs the admin once (to create the
user and its two ACLs), the long-running indexer then connects as `audit-indexer`.
"""

from bus.credentials import ensure_credentials
from bus.kafka.admin import Acl, KafkaAdmin, Operation, Resource
from bus.kafka.connection import KafkaConnection

INDEXER_USER = "audit-indexer"


def indexer_acls(audit_topic: str, policy_topic: str) -> set[Acl]:
    principal = f"User:{INDEXER_USER}"
    return {
        Acl(principal, Resource.TOPIC, audit_topic, Operation.READ),
        Acl(principal, Resource.TOPIC, policy_topic, Operation.READ),
    }


def indexer_connection(
    admin: KafkaAdmin, admin_connection: KafkaConnection, audit_topic: str, policy_topic: str
) -> KafkaConnection:
    """Create (idempotently) the indexer's user and ACLs; its connection."""
    credentials = ensure_credentials(admin, INDEXER_USER)
    admin.create_acls(indexer_acls(audit_topic, policy_topic))
    return admin_connection.as_user(credentials.username, credentials.password)
