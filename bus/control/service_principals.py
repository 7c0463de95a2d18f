"""The bus's own principals on its broker. Every other principal is an agency the bus manages.

The broker belongs to the bus: only the bus admin creates SCRAM users (`bus agency onboard`), and
nothing is allowed without an ACL. So a principal holding an ACL is either one of the bus's own
services, listed here, or an agency, whose every ACL must follow from the policy and the
subscriptions in force. ACL sync never touches the former and revokes anything unjustified of the
latter, so an agency removed from the policy loses its access even though nothing names it any
more. Add a new service's principal here, or sync revokes its ACLs.
"""

import os
from collections.abc import Iterable

from bus.errors import ConfigError
from bus.kafka.settings import KafkaSettings, load_kafka_settings

# The audit trail's own principals (bus/audit/indexer_access.py grants their ACLs).
INDEXER_USER = "audit-indexer"
VERIFIER_USER = "audit-verifier"


def service_principals() -> frozenset[str]:
    """The admin (super user; the enforcer and the CLI run as it), the audit indexer and verifier."""
    return frozenset(f"User:{user}" for user in service_usernames())


def claimed_by_agencies(principals: Iterable[str]) -> list[str]:
    """Those of `principals` (the policy's agencies') that are the bus's own: a policy naming one
    would hand an agency the bus's rights, or lock a service out."""
    return sorted(set(principals) & service_principals())


def service_usernames() -> frozenset[str]:
    """The SCRAM user names of `service_principals`."""
    return frozenset({_admin_user(), INDEXER_USER, VERIFIER_USER})


def _admin_user() -> str:
    try:
        return load_kafka_settings().admin_user
    except ConfigError:  # another setting is wrong: the command stops there, naming it
        default = KafkaSettings.model_fields["admin_user"].default
        return os.environ.get("BUS_KAFKA_ADMIN_USER", str(default))
