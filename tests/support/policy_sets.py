"""Policy sets for tests: the reference set plus agencies holding given principals."""

import json
from pathlib import Path
from typing import Any

from bus.policy_store import from_document
from policies.loader import PolicySet, load_policy_set
from policies.snapshot import canonical_bytes

REFERENCE = load_policy_set(Path(__file__).resolve().parents[2] / "policies" / "reference")


def reference_with(principals: dict[str, str]) -> PolicySet:
    """The reference set plus an agency per entry of `principals` (agency id → its principal)."""
    document: dict[str, Any] = json.loads(canonical_bytes(REFERENCE))
    template = document["agencies"][0]
    document["agencies"] += [
        {**template, "id": agency, "kafka_principal": principal}
        for agency, principal in principals.items()
    ]
    return from_document(document)
