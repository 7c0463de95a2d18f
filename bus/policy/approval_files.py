"""Approvals kept beside a policy set until it is applied: DIR/signatures/<approver>.json.

The folder is not part of the hashed set (an approval is over the set's hash, so it cannot be in
it). A file that is not an approval is reported with its path and the reason, never fatal: one
broken file must not hide the others."""

from dataclasses import dataclass
from pathlib import Path

from bus.policy.approval_signatures import Approval, parse_approval

SIGNATURES_DIR = "signatures"


@dataclass(frozen=True)
class ApprovalFiles:
    """The approvals read from a policy directory, and the files that are not approvals (why)."""

    approvals: tuple[Approval, ...]
    unreadable: tuple[tuple[Path, str], ...]


def read_approvals(directory: Path) -> ApprovalFiles:
    """Every DIR/signatures/*.json, in name order."""
    approvals: list[Approval] = []
    unreadable: list[tuple[Path, str]] = []
    folder = directory / SIGNATURES_DIR
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        if not path.is_file():  # a FIFO or device named *.json must not block or flood us
            unreadable.append((path, "not a regular file"))
            continue
        try:
            with path.open("rb") as file:  # read at most what an approval can be, whatever it is
                data = file.read(64 * 1024)
            approvals.append(parse_approval(data))
        except OSError as exc:
            unreadable.append((path, f"cannot be read ({exc.strerror or exc})"))
        except ValueError as exc:
            unreadable.append((path, f"{exc}; sign again with `bus policy sign`"))
    return ApprovalFiles(tuple(approvals), tuple(unreadable))


def write_approval(directory: Path, approval: Approval) -> Path:
    """Write `approval` as DIR/signatures/<approver>.json (replacing that approver's earlier one)."""
    folder = directory / SIGNATURES_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"{approval.approver}.json"
    path.write_bytes(approval.to_json() + b"\n")
    return path
