"""Approvals for tests: the reference set with approvers enrolled (keys under the test's folder, as
the demo does under var/), and the approvals of a change signed by chosen approvers."""

import atexit
import shutil
import tempfile
from pathlib import Path

from bus.demo.approvers import DemoApprovers
from bus.policy.approval_files import write_approval
from bus.policy.loader import PolicySet, load_policy_set

REFERENCE = Path(__file__).resolve().parents[2] / "policies" / "reference"
BOARD = ("board-chair", "board-federal", "board-states")


def module_approvers() -> DemoApprovers:
    """Approvers whose keys live in a folder of their own for a test module's whole life (the
    module builds its policy sets at import, before any fixture), removed when the run ends."""
    folder = Path(tempfile.mkdtemp(prefix="approvers-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return DemoApprovers(folder)


def enrolled_reference(directory: Path, approvers: DemoApprovers) -> Path:
    """A copy of the reference set in `directory` whose approvers have `approvers`' keys."""
    shutil.copytree(REFERENCE, directory)
    approvers.enrol(directory)
    return directory


def sign_as(
    directory: Path, approvers: DemoApprovers, old: PolicySet | None, *signers: str
) -> None:
    """Write `signers`' approvals of replacing `old` by the set in `directory` (no signers: every
    approver of the governing set) into DIR/signatures/."""
    new = load_policy_set(directory)
    for approval in approvers.approvals(old, new, signers or None):
        write_approval(directory, approval)
