"""A policy record's approvals travel as its headers, one `bus-approval` header per approval, so
the record's value stays the canonical set its key hashes (what the audit trail keeps) and the
record on the append-only topic names who approved it."""

from collections.abc import Sequence

from bus.policy.approval_signatures import Approval, parse_approval

APPROVAL_HEADER = "bus-approval"
MAX_APPROVALS = 64  # more headers than any quorum needs: the rest is ignored, not parsed


def approval_headers(approvals: Sequence[Approval]) -> list[tuple[str, bytes]]:
    """The headers carrying `approvals`."""
    return [(APPROVAL_HEADER, approval.to_json()) for approval in approvals]


def approvals_from_headers(headers: Sequence[tuple[str, bytes]]) -> tuple[Approval, ...]:
    """The approvals a record's headers carry; a header that is not one counts for nothing (the
    set is then judged without it, and refused if it needed it)."""
    approvals = []
    for _name, value in [h for h in headers if h[0] == APPROVAL_HEADER][:MAX_APPROVALS]:
        try:
            approvals.append(parse_approval(value if isinstance(value, bytes) else b""))
        except ValueError:
            continue
    return tuple(approvals)
