"""The demo's governance steps: a policy change refused for a missing approval and applied with
it (issue 17's four eyes), and a back office erasing what it must no longer keep."""

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from bus.demo.approvers import DemoApprovers
from bus.demo.judge import Check
from bus.kafka.connection import KafkaConnection
from bus.keys import KeyStore
from bus.policy.approval_needs import governing
from bus.policy.loader import PolicySet
from consumers.back_offices.back_office import BackOffice
from consumers.consumer import utc_now

# A grant to a consumer that never received population.AddressChanged: it needs the DPO as well.
NEW_GRANT_ID = "zoll-de-address"


def with_new_recipient(policy_set: PolicySet) -> PolicySet:
    """The set with the vehicle registry's address grant copied to customs (vehicle tax)."""
    model = next(g for g in policy_set.grants.grants if g.id == "kba-de-address")
    grant = model.model_copy(
        update={"id": NEW_GRANT_ID, "consumer": "zoll-de", "purpose": "vehicle-tax"}
    )
    grants = policy_set.grants.model_copy(update={"grants": (*policy_set.grants.grants, grant)})
    return replace(policy_set, grants=grants)


async def approval_story(
    approvers: DemoApprovers, operator: KafkaConnection, in_force: PolicySet
) -> tuple[Check, str]:
    """Apply a change signed by everyone but the DPO (refused), then with the DPO (applied)."""
    changed = with_new_recipient(in_force)
    rules = governing(in_force, changed).approvals
    everyone = [a.id for a in rules.approvers] if rules else []
    refused = await approvers.apply_signed(
        operator, changed, signers=[i for i in everyone if i != "dpo"]
    )
    applied = await approvers.apply_signed(operator, changed)
    said = (
        f"a new grant {NEW_GRANT_ID} (address changes to customs) without the DPO's approval: "
        f"{'refused, ' + refused.refusal() if not refused.approved else 'applied'}; "
        f"with it: {'applied' if applied.approved else 'refused, ' + applied.refusal()}"
    )
    check = Check(
        "a policy change lacking the DPO's approval is refused, and applied once the DPO signs",
        not refused.approved and "dpo" in refused.refusal() and applied.approved,
        said,
    )
    return check, said


async def purge_story(
    office: BackOffice, database: Path, connection: KafkaConnection, keys: KeyStore
) -> tuple[Check, str]:
    """The back office, eleven years on: every delivery's deadline has passed; it erases and
    records each erasure on its own erasures topic."""
    inbox = office.open_database(database)
    try:
        later = office.consumer(connection, keys, inbox, purge_every_s=None, clock=_later)
        result = await later.purge_now()
    finally:
        inbox.close()
    said = (
        f"{office.agency_id}, with the clock {ELEVEN_YEARS.days} days on: {result.erased} "
        f"deliveries erased, {result.reported} erasure records on its own topic"
    )
    check = Check(
        f"{office.agency_id} erases the rows whose retention ran out and records each erasure",
        result.erased > 0 and result.reported == result.erased and not result.failed,
        said,
    )
    return check, said


ELEVEN_YEARS = timedelta(days=11 * 366)


def _later() -> datetime:
    return utc_now() + ELEVEN_YEARS
