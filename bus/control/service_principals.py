"""The bus's own principals on its broker, and the ACLs each needs for its job and no more.

Every other principal is an agency the bus manages: its every ACL must follow from the policy and
the subscriptions in force. ACL sync never touches the principals listed here and revokes anything
unjustified of an agency, so an agency removed from the policy loses its access even though
nothing names it any more. Add a new service's principal here, or sync revokes its ACLs.

No service is a super user. The broker's admin (the lab's `bus-admin`, or a Kafka installation's
own) exists only to create the operator; the operator alone creates topics, SCRAM users and ACLs.
The operator's ALTER on the cluster lets it grant itself more, as in any Kafka: it is the trusted
role, kept apart from the services that parse agencies' input, and it holds no READ on personal
data (the delivery, ingress, audit and quarantine topics).
"""

import os
from collections.abc import Iterable

from bus.errors import ConfigError
from bus.kafka.admin import Acl, Operation, Resource
from bus.kafka.settings import KafkaSettings, load_kafka_settings
from bus.kafka.topics import (
    ALERTS_TOPIC,
    AUDIT_TOPIC,
    DELIVERY_PREFIX,
    ERASURES_PREFIX,
    INGRESS_PREFIX,
    INTEREST_PREFIX,
    POLICY_TOPIC,
    QUARANTINE_TOPIC,
    SEEN_EVENTS_PREFIX,
    SUBSCRIPTIONS_TOPIC,
    checkpoints_topic,
)

OPERATOR_USER = "bus-operator"
ENFORCER_USER = "bus-enforcer"
ENFORCER_GROUP = "bus-enforcer"  # its consumer group, and the prefix of its transactional ids
# The audit trail's own principals.
INDEXER_USER = "audit-indexer"
VERIFIER_USER = "audit-verifier"
# The oversight watch (bus watch): its principal, and the prefix of its consumer group (the faust
# app id) and of its internal topics (changelogs).
WATCH_USER = "bus-watch"
WATCH_APP_ID = "bus-watch"
# The connection profile each service loads (bus/kafka/profile.py): role name → SCRAM user.
SERVICE_ROLES = {
    "operator": OPERATOR_USER,
    "enforcer": ENFORCER_USER,
    "audit-indexer": INDEXER_USER,
    "audit-verifier": VERIFIER_USER,
    "watch": WATCH_USER,
}


def service_principals() -> frozenset[str]:
    """The broker admin and every service's principal (`User:<name>`)."""
    return frozenset(f"User:{user}" for user in service_usernames())


def claimed_by_agencies(principals: Iterable[str]) -> list[str]:
    """Those of `principals` (the policy's agencies') that are the bus's own: a policy naming one
    would hand an agency the bus's rights, or lock a service out."""
    return sorted(set(principals) & service_principals())


def service_usernames() -> frozenset[str]:
    """The SCRAM user names of `service_principals`."""
    return frozenset({_admin_user(), *SERVICE_ROLES.values()})


def service_acls() -> dict[str, set[Acl]]:
    """Each service's principal → its ACLs, for the bus's own topic names."""
    return {
        f"User:{OPERATOR_USER}": operator_acls(),
        f"User:{ENFORCER_USER}": enforcer_acls(),
        f"User:{INDEXER_USER}": indexer_acls(AUDIT_TOPIC, POLICY_TOPIC),
        f"User:{VERIFIER_USER}": verifier_acls(checkpoints_topic(AUDIT_TOPIC))
        | alerts_reader_acls(ALERTS_TOPIC),
        f"User:{WATCH_USER}": watch_acls(AUDIT_TOPIC, ALERTS_TOPIC),
    }


def operator_acls() -> set[Acl]:
    """Topics under `bus.` (create, configure, grow; not delete: the audit trail is among them),
    ACLs and SCRAM users (the cluster's ALTER and DESCRIBE), the policy and subscription topics it
    publishes to, and WRITE on the audit topic (its registry changes are audited). No READ on any
    topic that carries personal data."""
    principal = f"User:{OPERATOR_USER}"
    topic_admin = (
        Operation.CREATE,
        Operation.DESCRIBE,
        Operation.DESCRIBE_CONFIGS,
        Operation.ALTER_CONFIGS,
        Operation.ALTER,
    )
    acls = {Acl(principal, Resource.CLUSTER, "kafka-cluster", op) for op in _CLUSTER_ADMIN}
    acls |= {Acl(principal, Resource.TOPIC, "bus.", op, prefixed=True) for op in topic_admin}
    for topic in (POLICY_TOPIC, SUBSCRIPTIONS_TOPIC):
        acls |= {
            Acl(principal, Resource.TOPIC, topic, op) for op in (Operation.READ, Operation.WRITE)
        }
    # Subscribing, unsubscribing and offboarding audit what they do (a refusal, a removal): WRITE
    # only, the operator reads nothing of the audit trail.
    acls.add(Acl(principal, Resource.TOPIC, AUDIT_TOPIC, Operation.WRITE))
    # `bus doctor`: the enforcer's lag (its committed offsets, not the data).
    acls.add(Acl(principal, Resource.GROUP, ENFORCER_GROUP, Operation.DESCRIBE, prefixed=True))
    return acls


# ALTER: ACLs and SCRAM users; DESCRIBE: read them back; DESCRIBE_CONFIGS: `bus doctor` reads the
# brokers' listeners (Kafka masks passwords in what it returns).
_CLUSTER_ADMIN = (Operation.ALTER, Operation.DESCRIBE, Operation.DESCRIBE_CONFIGS)


def enforcer_acls(group: str = ENFORCER_GROUP) -> set[Acl]:
    """READ the ingress topics, the policy and the subscriptions; WRITE the delivery, audit and
    quarantine topics; its consumer groups and transactional ids; and its journals of accepted
    event ids (`bus.seen-events.<group>.…`), which it creates and sizes itself.

    Group, transactional ids and journals are granted on the prefix `group` (by default
    `bus-enforcer`), so that one principal can run several enforcer deployments side by side, each
    with a group of its own named `bus-enforcer-<name>` (enforcer_group_allowed): a test on the
    shared broker, a second installation. Agencies cannot hold such names (agency ids may not
    start with `bus-`)."""
    principal = f"User:{ENFORCER_USER}"
    journals = f"{SEEN_EVENTS_PREFIX}{group}"
    return {
        Acl(principal, Resource.TOPIC, INGRESS_PREFIX, Operation.READ, prefixed=True),
        Acl(principal, Resource.TOPIC, INTEREST_PREFIX, Operation.READ, prefixed=True),
        Acl(principal, Resource.TOPIC, POLICY_TOPIC, Operation.READ),
        Acl(principal, Resource.TOPIC, SUBSCRIPTIONS_TOPIC, Operation.READ),
        Acl(principal, Resource.TOPIC, DELIVERY_PREFIX, Operation.WRITE, prefixed=True),
        Acl(principal, Resource.TOPIC, AUDIT_TOPIC, Operation.WRITE),
        Acl(principal, Resource.TOPIC, QUARANTINE_TOPIC, Operation.WRITE),
        Acl(principal, Resource.GROUP, group, Operation.READ, prefixed=True),
        Acl(principal, Resource.TRANSACTIONAL_ID, group, Operation.WRITE, prefixed=True),
        *(
            Acl(principal, Resource.TOPIC, journals, op, prefixed=True)
            for op in (
                Operation.CREATE,
                Operation.READ,
                Operation.WRITE,
                Operation.DESCRIBE_CONFIGS,
                Operation.ALTER_CONFIGS,
                Operation.ALTER,
            )
        ),
    }


def enforcer_group_allowed(group: str) -> bool:
    """Whether the enforcer's principal may run with consumer group `group`: `bus-enforcer` or
    `bus-enforcer-<name>` (its ACLs' prefix; see enforcer_acls)."""
    return group == ENFORCER_GROUP or group.startswith(f"{ENFORCER_GROUP}-")


def indexer_acls(audit_topic: str, policy_topic: str, witness_topic: str | None = None) -> set[Acl]:
    """The indexer's ACLs: READ on the audit and policy topics and on every agency's erasures
    topic, READ and WRITE on the witness topic (by default `<audit_topic>.checkpoints`; it alone
    may write there)."""
    principal = f"User:{INDEXER_USER}"
    witness = witness_topic or checkpoints_topic(audit_topic)
    return {
        Acl(principal, Resource.TOPIC, audit_topic, Operation.READ),
        Acl(principal, Resource.TOPIC, policy_topic, Operation.READ),
        Acl(principal, Resource.TOPIC, ERASURES_PREFIX, Operation.READ, prefixed=True),
        Acl(principal, Resource.TOPIC, witness, Operation.READ),
        Acl(principal, Resource.TOPIC, witness, Operation.WRITE),
    }


def verifier_acls(witness_topic: str) -> set[Acl]:
    """The verifier's one ACL: READ on the witness topic."""
    return {Acl(f"User:{VERIFIER_USER}", Resource.TOPIC, witness_topic, Operation.READ)}


def watch_acls(audit_topic: str, alerts_topic: str) -> set[Acl]:
    """The oversight watch's ACLs: READ on the audit topic (quarantined events are recorded there
    too), WRITE on the alerts topic; its consumer groups, and its internal topics (changelogs of
    its windowed tables, which it creates and sizes itself), all on the prefix `bus-watch`, so
    that a test or a second installation can run one under `bus-watch-<name>`. Nothing else: it
    sees pseudonyms, never a delivery."""
    principal = f"User:{WATCH_USER}"
    return {
        Acl(principal, Resource.TOPIC, audit_topic, Operation.READ),
        Acl(principal, Resource.TOPIC, alerts_topic, Operation.WRITE),
        Acl(principal, Resource.GROUP, WATCH_APP_ID, Operation.READ, prefixed=True),
        *(
            Acl(principal, Resource.TOPIC, WATCH_APP_ID, op, prefixed=True)
            for op in (Operation.CREATE, Operation.READ, Operation.WRITE)
        ),
    }


def alerts_reader_acls(alerts_topic: str) -> set[Acl]:
    """READ on the watch's alerts for `audit-verifier`, the principal the auditors' API and
    console read the broker as (alerts name pseudonyms and ids, like the audit trail)."""
    return {Acl(f"User:{VERIFIER_USER}", Resource.TOPIC, alerts_topic, Operation.READ)}


def _admin_user() -> str:
    try:
        return load_kafka_settings().admin_user
    except ConfigError:  # another setting is wrong: the command stops there, naming it
        default = KafkaSettings.model_fields["admin_user"].default
        return os.environ.get("BUS_KAFKA_ADMIN_USER", str(default))
