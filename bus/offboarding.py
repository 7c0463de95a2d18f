"""Offboarding an agency: it reads and writes nothing on the bus any more; the audit trail stays.

In this order, so that access ends first and nothing can restore it half-way:
1. a DENY on every topic, group, transactional id and the cluster for each of its principals. A
   DENY overrides any ALLOW, so neither a session opened before its credentials were revoked nor an
   enforcer re-granting ACLs from a policy that still names it regains access (ACL sync keeps
   the block and grants a blocked agency nothing);
2. its subscriptions are tombstoned in the registry, each removal audited (AGENCY_OFFBOARDED);
3. every ALLOW ACL of its principals is deleted;
4. its SCRAM credentials are overwritten with a secret nobody holds (never deleted: see
   deploy/kafka/README.md) and its password file is removed.
Nothing is deleted from the audit topic or store. Running it again changes nothing more.
`bus agency onboard` lifts the block (re-admission is a deliberate act).
"""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bus import subscriptions
from bus.acls import block_acls
from bus.agency_ids import check_agency_id
from bus.credentials import credentials_path
from bus.errors import ConfigError
from bus.kafka.admin import Acl, KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.reading import TopicNotFoundError, read_all
from bus.service_principals import service_usernames
from bus.subscription_service import unsubscribe
from bus.topics import POLICY_TOPIC
from policies.facts import Subscription
from policies.snapshot import EMPTY_HASH

OFFBOARDED = "AGENCY_OFFBOARDED"


class UnknownAgencyError(ConfigError):
    """Nothing on the bus knows the agency: no policy, subscription, ACL or credential names it."""


@dataclass(frozen=True)
class Offboarding:
    """What offboarding did (empty collections: already done)."""

    agency: str
    principals: tuple[str, ...]
    blocked: frozenset[Acl]  # DENYs added now
    subscriptions: tuple[Subscription, ...]  # tombstoned now, each audited
    acls: frozenset[Acl]  # ALLOWs deleted now
    credentials: tuple[str, ...]  # SCRAM users whose secret was overwritten
    password_file: Path | None  # removed now
    in_policy: bool  # the policy set in force still names it

    @property
    def changed(self) -> bool:
        return bool(self.blocked or self.subscriptions or self.acls or self.password_file)


async def offboard(
    connection: KafkaConnection, admin: KafkaAdmin, agency: str, now: datetime
) -> Offboarding:
    check_agency_id(agency)
    history = await _policy_history(connection)
    principals = _principals(agency, history)
    registered = [s for s in await subscriptions.load(connection) if s.consumer == agency]
    held = {acl for p in principals for acl in admin.describe_acls_of(p)}
    usernames = tuple(u for p in principals if admin.has_scram_user(u := p.removeprefix("User:")))
    password_file = credentials_path(agency)
    named_in_policy = any(agency in agencies for _, agencies in history)
    if not (named_in_policy or registered or held or usernames or password_file.exists()):
        raise UnknownAgencyError(
            f"unknown agency {agency!r}: neither a policy set applied on the bus nor a "
            "subscription, ACL or credential names it; nothing to offboard"
        )
    snapshot_hash, in_force = history[-1] if history else (EMPTY_HASH, {})

    blocked = {acl for p in principals for acl in block_acls(p)} - held
    admin.create_acls(blocked)
    for subscription in registered:
        await unsubscribe(connection, subscription, OFFBOARDED, snapshot_hash, now)
    allowed = {acl for acl in held if acl.allow}
    admin.delete_acls(allowed)
    for username in usernames:
        admin.revoke_scram_user(username)
    removed = password_file.exists()
    password_file.unlink(missing_ok=True)
    return Offboarding(
        agency=agency, principals=principals, blocked=frozenset(blocked),
        subscriptions=tuple(registered), acls=frozenset(allowed), credentials=usernames,
        password_file=password_file if removed else None, in_policy=agency in in_force,
    )  # fmt: skip


def lift_block(admin: KafkaAdmin, principal: str) -> bool:
    """Remove an offboarding block (re-admission); returns whether there was one."""
    block = block_acls(principal) & admin.describe_acls_of(principal)
    admin.delete_acls(block)
    return bool(block)


def _principals(agency: str, history: list[tuple[str, dict[str, str]]]) -> tuple[str, ...]:
    """`User:<id>` (its credentials' name) and whatever principal any applied policy gave it."""
    named = {agencies[agency] for _, agencies in history if agency in agencies}
    services = {f"User:{u}" for u in service_usernames()}  # never lock out the bus itself
    return tuple(sorted(({f"User:{agency}"} | named) - services))


async def _policy_history(connection: KafkaConnection) -> list[tuple[str, dict[str, str]]]:
    """Every policy set applied on the bus, oldest first, as (snapshot hash, agency → principal).
    The topic keeps every version (keyed by content hash); unreadable records are skipped."""
    history: list[tuple[str, dict[str, str]]] = []
    try:
        async for record in read_all(connection, POLICY_TOPIC):
            agencies = _agencies(record.value)
            if agencies is not None and record.key is not None:
                history.append((record.key.decode(errors="replace"), agencies))
    except TopicNotFoundError:
        pass  # nothing applied yet
    return history


def _agencies(document: bytes | None) -> dict[str, str] | None:
    try:
        listed = json.loads(document or b"null")["agencies"]
        return {str(a["id"]): str(a["kafka_principal"]) for a in listed}
    except (ValueError, KeyError, TypeError):
        return None
