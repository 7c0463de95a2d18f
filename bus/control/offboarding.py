"""Offboarding an agency: it reads and writes nothing on the bus any more; the audit trail stays.

In this order, so that access ends first and nothing can restore it half-way:
1. a DENY on every topic, group, transactional id and the cluster for each of its principals
   (agency_principals.py: never one the policy set in force gives another agency). A DENY
   overrides any ALLOW, so neither a session opened before its credentials were revoked nor an
   enforcer re-granting ACLs from a policy that still names it regains access (ACL sync keeps
   the block and grants a blocked agency nothing);
2. its data-protection officer's auditor API tokens are revoked (its view of the audit trail ends
   with its membership), before any later broker step can fail;
3. its subscriptions are tombstoned in the registry, each removal audited (AGENCY_OFFBOARDED)
   under the policy snapshot in force;
4. every ALLOW ACL of its principals is deleted;
5. its SCRAM credentials are overwritten with a secret nobody holds (never deleted: see
   deploy/kafka/README.md) and its password file and connection profile are removed.
Nothing is deleted from the audit topic or store. Running it again changes nothing more.
`bus agency onboard` lifts the block (re-admission is a deliberate act).
"""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bus.audit.access import TokenRegistry
from bus.control import subscriptions
from bus.control.acls import block_acls
from bus.control.agency_ids import check_agency_id
from bus.control.agency_principals import agency_principals, read_applied_policies
from bus.control.credentials import agency_profile_path, credentials_path
from bus.control.subscription_service import unsubscribe
from bus.errors import ConfigError
from bus.kafka.admin import Acl, KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import POLICY_TOPIC
from bus.policy.facts import Subscription

OFFBOARDED = "AGENCY_OFFBOARDED"


class UnknownAgencyError(ConfigError):
    """Nothing on the bus knows the agency: no policy, subscription, ACL or credential names it."""


@dataclass(frozen=True)
class Offboarding:
    """What offboarding did (empty collections: already done)."""

    agency: str
    principals: tuple[str, ...]
    spared: tuple[tuple[str, str], ...]  # (principal, the agency the set in force gives it)
    blocked: frozenset[Acl]  # DENYs added now
    dpo_tokens: tuple[str, ...]  # its agency-dpo auditor API tokens revoked now
    subscriptions: tuple[Subscription, ...]  # tombstoned now, each audited
    acls: frozenset[Acl]  # ALLOWs deleted now
    credentials: tuple[str, ...]  # SCRAM users whose secret was overwritten
    password_file: Path | None  # removed now
    profile_file: Path | None  # its connection profile, removed now
    in_policy: bool  # the policy set in force still names it

    @property
    def changed(self) -> bool:
        """Whether this run did anything (False: the agency was offboarded already)."""
        return bool(
            self.blocked
            or self.dpo_tokens
            or self.subscriptions
            or self.acls
            or self.password_file
            or self.profile_file
        )


async def offboard(
    connection: KafkaConnection,
    admin: KafkaAdmin,
    tokens: TokenRegistry,
    agency: str,
    now: datetime,
    policy_topic: str = POLICY_TOPIC,
) -> Offboarding:
    """Offboard `agency` in the steps above, as the bus's operator (`connection`, `admin`); `tokens` holds
    its auditor API tokens, `now` dates the audit records and revocations; the policy sets applied
    are read from `policy_topic`. UnknownAgencyError if nothing on the bus names it."""
    check_agency_id(agency)
    applied = await read_applied_policies(connection, admin, policy_topic)
    found = agency_principals(agency, applied)
    principals = found.principals
    registered = [s for s in await subscriptions.load(connection) if s.consumer == agency]
    held = {acl for p in principals for acl in admin.describe_acls_of(p)}
    usernames = tuple(u for p in principals if admin.has_scram_user(u := p.removeprefix("User:")))
    password_file = credentials_path(agency)
    profile_file = agency_profile_path(agency)
    named_in_policy = any(agency in given for given in applied.history)
    if not (named_in_policy or registered or held or usernames or password_file.exists()):
        raise UnknownAgencyError(
            f"unknown agency {agency!r}: neither a policy set applied on the bus nor a "
            "subscription, ACL or credential names it; nothing to offboard"
        )

    blocked = {acl for p in principals for acl in block_acls(p)} - held
    admin.create_acls(blocked)
    revoked_tokens = tuple(tokens.revoke_agency(agency, now))
    for subscription in registered:
        await unsubscribe(connection, subscription, OFFBOARDED, applied.snapshot_hash, now)
    allowed = {acl for acl in held if acl.allow}
    admin.delete_acls(allowed)
    for username in usernames:
        admin.revoke_scram_user(username)
    removed = password_file.exists()
    password_file.unlink(missing_ok=True)
    profile_removed = profile_file.exists()
    profile_file.unlink(missing_ok=True)
    return Offboarding(
        agency=agency,
        principals=principals,
        spared=found.spared,
        blocked=frozenset(blocked),
        dpo_tokens=revoked_tokens,
        subscriptions=tuple(registered),
        acls=frozenset(allowed),
        credentials=usernames,
        password_file=password_file if removed else None,
        profile_file=profile_file if profile_removed else None,
        in_policy=agency in applied.in_force,
    )


def lift_block(admin: KafkaAdmin, principal: str) -> bool:
    """Remove an offboarding block (re-admission); returns whether there was one."""
    block = block_acls(principal) & admin.describe_acls_of(principal)
    admin.delete_acls(block)
    return bool(block)


def is_blocked(admin: KafkaAdmin, principal: str) -> bool:
    """Whether `principal` carries an offboarding block."""
    return bool(block_acls(principal) & admin.describe_acls_of(principal))
