"""The demo's approvers: one Ed25519 key pair per approver of the reference set, generated under
var/ on first use (as KeyFolders does for the registers), enrolled into the set's approvals.yaml,
and used to sign changes — as the governance board, the DPO and the data owners would, each on
their own machine, with `bus policy sign`.

Two calls show approvals at work (both on the policy topic, judged by the set in force there):
`apply_signed(connection, new_set, signers=...)` with too few signers is refused and says what is
missing; with the signers the change needs (`signers=None`: every approver of the governing set)
it is applied.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from bus.control.policy_apply import apply_approved, in_force
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import POLICY_TOPIC
from bus.keys import AgencySigningKey, generate_key_files
from bus.policy.approval_check import Verdict
from bus.policy.approval_needs import governing
from bus.policy.approval_signatures import Approval, sign
from bus.policy.loader import APPROVALS_FILE, PolicySet, load_policy_set
from bus.policy.snapshot import content_hash


@dataclass(frozen=True)
class DemoApprovers:
    """Where the demo keeps its approvers' keys: `folder`/private (mode 0600) and `folder`/public."""

    folder: Path

    def key(self, approver: str) -> AgencySigningKey:
        """`approver`'s signing key, generated (with its public key file) on first use."""
        private = self.folder / "private"
        path = private / f"{approver}.key.pem"
        if not path.exists():
            generate_key_files(approver, private, self.folder / "public")
        return AgencySigningKey.from_pem_file(approver, path)

    def enrolled(self, policy_set: PolicySet) -> PolicySet:
        """`policy_set` with every approver's public key set to the demo's key for them (the
        reference set leaves them empty: each deployment enrols its own people)."""
        if policy_set.approvals is None:
            return policy_set
        approvers = tuple(
            a.model_copy(update={"public_key": self.key(a.id).public_pem().decode()})
            for a in policy_set.approvals.approvers
        )
        approvals = policy_set.approvals.model_copy(update={"approvers": approvers})
        return replace(policy_set, approvals=approvals)

    def enrol(self, directory: Path) -> None:
        """Rewrite DIR/approvals.yaml with the demo's public keys filled in (for a policy set the
        CLI reads from a directory: `bus policy sign`, `bus policy apply`)."""
        policy_set = self.enrolled(load_policy_set(directory))
        if policy_set.approvals is not None:
            document = policy_set.approvals.model_dump(mode="json")
            text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
            (directory / APPROVALS_FILE).write_text(text, encoding="utf-8")

    def approvals(
        self, old: PolicySet | None, new: PolicySet, signers: Iterable[str] | None = None
    ) -> list[Approval]:
        """`signers`' approvals of replacing `old` by `new` (None: every approver of the set whose
        rules govern the change)."""
        rules = governing(old, new).approvals
        ids = signers if signers is not None else [a.id for a in rules.approvers] if rules else []
        parent = None if old is None else content_hash(old)
        return [sign(self.key(i), content_hash(new), parent) for i in ids]

    async def apply_signed(
        self,
        connection: KafkaConnection,
        new: PolicySet,
        signers: Iterable[str] | None = None,
        topic: str = POLICY_TOPIC,
    ) -> Verdict:
        """Sign replacing the set in force on `topic` by `new` as `signers` (None: every approver
        of the governing set) and apply it; the verdict says whether it was applied and, if not,
        what is missing."""
        old = await in_force(connection, topic)
        return await apply_approved(connection, new, self.approvals(old, new, signers), topic)
