"""`bus policy apply` with approvals: judge the new set against the set in force on the policy topic
(its rules, its approvers, its hash as the parent) and publish it, with the approvals that count,
only if they satisfy what the change needs. The topic's readers judge it again (policy_chain.py):
this check is for a clear answer to the operator, not the one the bus relies on."""

import logging
from collections.abc import Sequence

from bus.control import policy_store
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import POLICY_TOPIC
from bus.policy.approval_check import Verdict, check
from bus.policy.approval_signatures import Approval
from bus.policy.loader import PolicySet

log = logging.getLogger(__name__)


async def in_force(connection: KafkaConnection, topic: str = POLICY_TOPIC) -> PolicySet | None:
    """The set in force on `topic` (None: none), as the enforcer sees it."""
    return (await policy_store.read_in_force(connection, topic)).policy


async def apply_approved(
    connection: KafkaConnection,
    policy_set: PolicySet,
    approvals: Sequence[Approval],
    topic: str = POLICY_TOPIC,
) -> Verdict:
    """Publish `policy_set` if `approvals` satisfy what replacing the set in force needs; the
    verdict either way (nothing is published unless `verdict.approved`, nor if the set is the one
    in force already: `verdict.unchanged`)."""
    verdict = check(await in_force(connection, topic), policy_set, approvals)
    if verdict.unchanged:
        # Publishing it again would make it the newest record under its key, judged against the
        # set before its first publication, without the approvals it had then: a rollback.
        return verdict
    if verdict.approved:
        counted = [a for a in approvals if a.approver in verdict.valid]
        unique = list({a.approver: a for a in counted}.values())  # one per approver
        await policy_store.publish(connection, policy_set, topic, unique)
        log.info(
            "policy set %s applied on %s replacing %s, approved by %s",
            verdict.needs.snapshot,
            topic,
            verdict.needs.parent or "nothing",
            ", ".join(verdict.valid) or "nobody (no approvals needed)",
        )
    return verdict
