"""Which broker principals are an agency's, for offboarding it and for re-admitting it.

Its credentials' name `User:<id>`, and whatever principal any policy set ever applied on the bus
gave it: the broker may still hold ACLs or a session under any of them. Except a principal the
set in force gives another agency: blocking that one would lock the other agency out (and
offboarding would overwrite its SCRAM secret). Such a principal is left alone and named.
The set in force is the one the enforcer uses (`policy_store.read_in_force`); the history is read
only to find principals.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bus.control import policy_store
from bus.control.service_principals import service_usernames
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.reading import read_all
from bus.kafka.topics import POLICY_TOPIC
from bus.policy.loader import PolicySet
from bus.policy.snapshot import EMPTY_HASH, content_hash

Principals = Mapping[str, str]  # agency id → its principal, as one policy set gives them


@dataclass(frozen=True)
class AppliedPolicies:
    """Which principal each agency is given by the set in force and by every set ever applied."""

    snapshot_hash: str  # of the set in force (EMPTY_HASH: none, everything is denied)
    in_force: Principals
    history: tuple[Principals, ...]  # every set applied on the bus, oldest first


@dataclass(frozen=True)
class AgencyPrincipals:
    """One agency's principals, and those it was given but another agency now holds."""

    agency: str
    principals: tuple[str, ...]  # its own: blocked by offboarding, unblocked by re-admission
    spared: tuple[tuple[str, str], ...]  # (principal, other agency the set in force gives it)


def agency_principals(agency: str, applied: AppliedPolicies) -> AgencyPrincipals:
    """`agency`'s principals by `applied`: `User:<agency>` and every one a set gave it, never the
    bus's own, and sparing those the set in force gives another agency."""
    given = {p[agency] for p in (*applied.history, applied.in_force) if agency in p}
    services = {f"User:{u}" for u in service_usernames()}  # never lock out the bus itself
    candidates = sorted(({f"User:{agency}"} | given) - services)
    holders = {
        principal: sorted(a for a, p in applied.in_force.items() if p == principal and a != agency)
        for principal in candidates
    }
    return AgencyPrincipals(
        agency=agency,
        principals=tuple(p for p in candidates if not holders[p]),
        spared=tuple((p, other) for p in candidates for other in holders[p]),
    )


def applied_policies(
    in_force: PolicySet | None, records: Iterable[tuple[bytes | None, bytes | None]]
) -> AppliedPolicies:
    """`in_force` as `policy_store.read_in_force` chose it; `records` (key, value) of the policy
    topic, oldest first."""
    return AppliedPolicies(
        snapshot_hash=EMPTY_HASH if in_force is None else content_hash(in_force),
        in_force={} if in_force is None else _principals_of(in_force),
        history=tuple(p for key, value in records if (p := _given(key, value)) is not None),
    )


async def read_applied_policies(
    connection: KafkaConnection, admin: KafkaAdmin, topic: str = POLICY_TOPIC
) -> AppliedPolicies:
    """Read the policy topic `topic` (created if missing, with `admin`) as `applied_policies`
    takes it."""
    policy_store.ensure_policy_topic(admin, topic)  # a fresh bus has none yet: nothing was applied
    in_force = await policy_store.read_in_force(connection, topic)
    records = [(r.key, r.value) async for r in read_all(connection, topic)]
    return applied_policies(in_force.policy, records)


async def read_agency_principals(
    connection: KafkaConnection, admin: KafkaAdmin, agency: str, topic: str = POLICY_TOPIC
) -> AgencyPrincipals:
    """`agency_principals` of `agency` by the policy sets on the bus (on the policy topic `topic`)."""
    return agency_principals(agency, await read_applied_policies(connection, admin, topic))


def _principals_of(policy_set: PolicySet) -> dict[str, str]:
    return {a.id: a.kafka_principal for a in policy_set.agencies.agencies}


def _given(key: bytes | None, value: bytes | None) -> dict[str, str] | None:
    """The principals a record of the policy topic gives, read as the enforcer reads it; failing
    that, its agency list alone: an earlier bus may have acted on a record today's reader refuses,
    so its principals may still hold ACLs (blocking them is failing closed). A set withdrawn by
    a later tombstone counts too (it was in force once); the tombstone itself gives nothing."""
    if value is None:
        return None
    try:
        return _principals_of(policy_store.policy_from_record(key, value))
    except ValueError:
        pass
    try:
        listed = json.loads(value)["agencies"]
        return {str(a["id"]): str(a["kafka_principal"]) for a in listed}
    except (ValueError, KeyError, TypeError):
        return None  # not a policy set at all
