"""The lab's part of least privilege: as the broker's admin, give each of the bus's services its
own SCRAM user and ACLs (bus/control/service_principals.py says which), and write each a
connection profile (`var/kafka/profiles/<role>.toml`, its password beside it, both 0600).

A Kafka installation of the bus's own (Strimzi, a managed cluster) does this with its own tools;
every service then only ever loads its profile, never the admin's credential.
"""

import secrets
from pathlib import Path

from bus.control.service_principals import SERVICE_ROLES, service_acls
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.profile import write_profile


def provision_service_accounts(
    admin_connection: KafkaConnection, profiles_dir: Path
) -> dict[str, Path]:
    """Each service role's user (created with a new password the first time, else kept), its
    ACLs (exactly those of bus/control/service_principals.py) and its profile (rewritten: the
    broker's address may have changed). Returns role → profile path."""
    admin = KafkaAdmin(admin_connection)
    acls = service_acls()
    profiles: dict[str, Path] = {}
    for role, user in SERVICE_ROLES.items():
        profile = profiles_dir / f"{role}.toml"
        password_file = profile.with_suffix(".password")
        fresh = not password_file.exists() or not admin.has_scram_user(user)
        password = secrets.token_urlsafe(24) if fresh else password_file.read_text().strip()
        connection = admin_connection.as_user(user, password)
        write_profile(profile, connection, password_file)
        if fresh:
            admin.upsert_scram_user(user, password)
        # Exactly its ACLs, as Strimzi keeps a KafkaUser's: what an earlier version granted and
        # this one no longer does is revoked.
        wanted, held = acls[f"User:{user}"], admin.describe_acls_of(f"User:{user}")
        admin.delete_acls(held - wanted)
        admin.create_acls(wanted - held)
        profiles[role] = profile
    return profiles
