"""The bus's own principals on its broker. Every other principal is an agency the bus manages.

The broker belongs to the bus: only the bus admin creates SCRAM users (`bus agency onboard`), and
nothing is allowed without an ACL. So a principal holding an ACL is either one of the bus's own
services, listed here, or an agency, whose every ACL must follow from the policy and the
subscriptions in force. ACL sync never touches the former and revokes anything unjustified of the
latter, so an agency removed from the policy loses its access even though nothing names it any
more. Add a new service's principal here, or sync revokes its ACLs.
"""

from bus.audit.indexer_access import INDEXER_USER
from bus.kafka.settings import load_kafka_settings


def service_principals() -> frozenset[str]:
    """The admin (super user; the enforcer and the CLI run as it), the audit indexer and the
    audit verifier (reads the indexer's witness topic)."""
    admin = load_kafka_settings().admin_user
    return frozenset({f"User:{admin}", f"User:{INDEXER_USER}", f"User:{VERIFIER_USER}"})


def service_usernames() -> frozenset[str]:
    return frozenset(p.removeprefix("User:") for p in service_principals())
