"""A detached approval: one approver's Ed25519 signature over the change from one policy set to
another.

What is signed is RFC 8785 JSON of {context, approver, snapshot, parent, signed_at}: the new set's
hash, and the hash of the set it replaces (null for the first set). Binding the parent means an
approval of one change cannot be replayed onto a later change to the same content. The approval is
not part of the hashed set: it is published beside it (as a header of the bus.policy record) and
kept as a file in DIR/signatures/ until then.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from nacl.signing import VerifyKey

from bus.keys import AgencySigningKey
from bus.keys.signature_check import SIGNATURE_BYTES, reference_check
from bus.policy.approval_documents import Approver, ed25519_raw
from bus.util.encoding import MalformedEncodingError, b64url_decode, b64url_encode, json_loads

CONTEXT = "govbus policy approval v1"  # so no other signature by the same key can pass for one
MAX_BYTES = 4096  # an approval is ~300 bytes; anything much larger is not one
_MEMBERS = {"approver", "snapshot", "parent", "signed_at", "signature"}


@dataclass(frozen=True)
class Approval:
    """`approver` approves replacing the set `parent` (None: none in force) by the set `snapshot`."""

    approver: str
    snapshot: str
    parent: str | None
    signed_at: str  # ISO 8601 UTC, as signed
    signature: bytes

    def statement(self) -> bytes:
        """The bytes the signature is over."""
        return statement(self.approver, self.snapshot, self.parent, self.signed_at)

    def to_json(self) -> bytes:
        """The approval as a JSON document (a signature file, a record header)."""
        return rfc8785.dumps(
            {
                "approver": self.approver,
                "snapshot": self.snapshot,
                "parent": self.parent,
                "signed_at": self.signed_at,
                "signature": b64url_encode(self.signature),
            }
        )


def statement(approver: str, snapshot: str, parent: str | None, signed_at: str) -> bytes:
    """RFC 8785 JSON of what an approver signs."""
    return rfc8785.dumps(
        {
            "context": CONTEXT,
            "approver": approver,
            "snapshot": snapshot,
            "parent": parent,
            "signed_at": signed_at,
        }
    )


def sign(
    key: AgencySigningKey, snapshot: str, parent: str | None, now: datetime | None = None
) -> Approval:
    """`key`'s holder (its id is the approver id) approves replacing `parent` by `snapshot`."""
    signed_at = (now or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    message = statement(key.agency_id, snapshot, parent, signed_at)
    return Approval(key.agency_id, snapshot, parent, signed_at, key.sign(message))


def parse_approval(data: bytes) -> Approval:
    """An approval from its JSON; ValueError saying what is wrong (never anything else)."""
    if len(data) > MAX_BYTES:
        raise ValueError(f"{len(data)} bytes: too large for an approval")
    try:
        document: Any = json_loads(data, "approval")
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(document, dict) or set(document) != _MEMBERS:
        raise ValueError(f"not an approval: a JSON object of exactly {', '.join(sorted(_MEMBERS))}")
    texts = ("approver", "snapshot", "signed_at", "signature")
    if not all(isinstance(document[name], str) for name in texts) or not isinstance(
        document["parent"], str | None
    ):
        raise ValueError("not an approval: its members must be strings (parent may be null)")
    try:
        signature = b64url_decode(document["signature"])
    except MalformedEncodingError as exc:
        raise ValueError(f"signature: {exc}") from None
    if len(signature) != SIGNATURE_BYTES:
        raise ValueError(f"signature: {len(signature)} bytes, an Ed25519 signature has 64")
    return Approval(
        document["approver"],
        document["snapshot"],
        document["parent"],
        document["signed_at"],
        signature,
    )


def problem_with(
    approval: Approval,
    approvers: tuple[Approver, ...],
    snapshot: str,
    parent: str | None,
    *,
    any_parent: bool = False,
) -> str | None:
    """Why `approval` does not count for replacing `parent` by `snapshot` under `approvers` (the
    governing set's), or None if it does. `any_parent`: the parent cannot be checked (the first set
    still on the policy topic after older ones were withdrawn or compacted away)."""
    approver = next((a for a in approvers if a.id == approval.approver), None)
    if approver is None:
        return f"{approval.approver} is not an approver in the policy in force"
    if not approver.public_key.strip():
        return f"{approval.approver} has no public key in the policy in force (not enrolled)"
    if approval.snapshot != snapshot:
        return f"it approves another set ({approval.snapshot}), not {snapshot}"
    if not any_parent and approval.parent != parent:
        return f"it approves a change from {approval.parent}, but {parent} is in force"
    try:
        verify = reference_check(VerifyKey(ed25519_raw(approver.public_key)))
        valid = verify(approval.statement(), approval.signature)
    except Exception:  # a hostile key or signature is a refusal, never a crash
        valid = False
    return None if valid else f"the signature does not verify with {approval.approver}'s key"
