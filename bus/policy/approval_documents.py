"""approvals.yaml: who may approve a change to the policy set, and which approvals a change needs.

The file is optional: a set without it has no approval rules (and hashes as it always did). With
it, the file is part of the hashed policy set, so the rules and the approvers' keys are policy
themselves: changing them is a change like any other, approved under the rules in force before it.
"""

from typing import Self

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bus.policy.documents import Identifier

Role = str


class _Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def ed25519_raw(pem: str) -> bytes:
    """The 32 raw bytes of an Ed25519 SubjectPublicKeyInfo PEM; ValueError if it is not one."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, UnsupportedAlgorithm) as exc:  # an unknown algorithm is no ValueError
        raise ValueError(str(exc) or type(exc).__name__) from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"an Ed25519 public key is needed, found {type(key).__name__}")
    return key.public_bytes_raw()


class Approver(_Document):
    """A person who may sign changes: their roles, the agency whose consent as data owner they may
    give (if any), and the public key their approvals verify with (`bus agency keygen ID` makes a
    pair; empty: not yet enrolled, their approvals count for nothing)."""

    id: Identifier = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str = Field(min_length=1)
    roles: tuple[Role, ...] = ()
    agency: Identifier | None = None
    public_key: str = ""

    @field_validator("public_key")
    @classmethod
    def _ed25519(cls, value: str) -> str:
        if value.strip():
            try:
                ed25519_raw(value)
            except ValueError as exc:  # also "not PEM": say what the file must hold
                raise ValueError(
                    f"not an Ed25519 public key PEM ({exc}); paste the .pub.pem file "
                    "`bus agency keygen ID` wrote, or leave it empty until the approver is enrolled"
                ) from None
        return value


class Quorum(_Document):
    """At least `min` distinct approvers holding `role`."""

    role: Role = Field(min_length=1)
    min: int = Field(ge=1, le=100)


class ApprovalRules(_Document):
    """Which approvals a change needs (each only where it applies; all that apply are needed)."""

    # Any change at all (four eyes: two board members, say).
    every_change: Quorum | None = None
    # A change that widens what a consumer receives of an event type needs an approver of every
    # agency that produces that event type (the data owner's consent).
    producer_consent: bool = False
    # Personal (or special-category) fields of an event type released to a consumer that received
    # nothing of that event type before.
    personal_to_new_consumer: Quorum | None = None


class ApprovalsFile(_Document):
    """approvals.yaml."""

    approvers: tuple[Approver, ...] = ()
    rules: ApprovalRules = ApprovalRules()

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        # Four eyes means four eyes: one person listed twice (or one key twice) must not count twice.
        ids = [a.id for a in self.approvers]
        keys = [ed25519_raw(a.public_key) for a in self.approvers if a.public_key.strip()]
        if len(ids) != len(set(ids)):
            raise ValueError("approver ids must be unique")
        if len(keys) != len(set(keys)):
            raise ValueError("two approvers share one public key; give each person their own key")
        return self
