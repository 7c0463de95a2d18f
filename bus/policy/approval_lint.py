"""Cross-checks of approvals.yaml: rules nobody can meet, and approvers who cannot sign yet.

Warnings, not errors: an unmeetable rule does not make the set wrong, but every change it governs
will be refused until approvals.yaml is fixed — and fixing it is a change that needs the approvals
the rules in force require.
"""

from collections.abc import Callable

from bus.policy.loader import PolicySet

Report = Callable[[str, str], None]  # key, message (a warning in approvals.yaml)


def approval_checks(policy_set: PolicySet, agencies: set[str], warn: Report) -> None:
    """Warn about what in approvals.yaml will refuse changes that are meant to pass."""
    approvals = policy_set.approvals
    if approvals is None:
        return
    unenrolled = [a.id for a in approvals.approvers if not a.public_key.strip()]
    if unenrolled:
        warn(
            "approvers.public_key",
            f"no public key yet for {', '.join(unenrolled)}: their approvals count for nothing "
            "(`bus agency keygen ID` makes a pair; paste the .pub.pem as public_key)",
        )
    for index, approver in enumerate(approvals.approvers):
        if approver.agency is not None and approver.agency not in agencies:
            warn(f"approvers[{index}].agency", f"unknown agency {approver.agency}")
    rules = approvals.rules
    for name, quorum in (
        ("every_change", rules.every_change),
        ("personal_to_new_consumer", rules.personal_to_new_consumer),
    ):
        if quorum is None:
            continue
        holders = [a.id for a in approvals.approvers if quorum.role in a.roles]
        if len(holders) < quorum.min:
            warn(
                f"rules.{name}",
                f"needs {quorum.min} approvers with role {quorum.role} but {len(holders)} "
                "have it: the changes it governs cannot be approved",
            )
    if rules.producer_consent:
        speaking = {a.agency for a in approvals.approvers}
        for producer in sorted({p.agency for p in policy_set.producers.producers} - speaking):
            warn(
                "rules.producer_consent",
                f"no approver speaks for producer {producer}: no change releasing its data "
                "can be approved",
            )
