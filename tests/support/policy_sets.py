"""Policy sets for tests: a tiny set built in Python (for engine tests that must not depend on the
reference YAML), and the reference set plus agencies holding given principals."""

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bus.control.policy_store import from_document
from bus.policy.documents import (
    AgenciesFile,
    Agency,
    Grant,
    GrantsFile,
    Level,
    ProducerAuthority,
    ProducersFile,
    Purpose,
    PurposesFile,
    TerritorialRule,
    TerritoriesFile,
    Territory,
)
from bus.policy.loader import PolicySet, load_policy_set
from bus.policy.snapshot import canonical_bytes

JAN_2026 = datetime(2026, 1, 1, tzinfo=UTC)


def territories() -> tuple[Territory, ...]:
    return (
        Territory(code="DE", name="Deutschland", level=Level.NATION),
        Territory(code="09", name="Bayern", level=Level.STATE, parent="DE"),
        Territory(code="08", name="Baden-Württemberg", level=Level.STATE, parent="DE"),
        Territory(code="09162", name="München", level=Level.DISTRICT, parent="09"),
        Territory(code="09362", name="Regensburg", level=Level.DISTRICT, parent="09"),
        Territory(code="08111", name="Stuttgart", level=Level.DISTRICT, parent="08"),
        Territory(code="09162000", name="München", level=Level.MUNICIPALITY, parent="09162"),
        Territory(code="09362000", name="Regensburg", level=Level.MUNICIPALITY, parent="09362"),
        Territory(code="08111000", name="Stuttgart", level=Level.MUNICIPALITY, parent="08111"),
    )


def agency(id: str, jurisdiction: str, *competences: str, level: Level = Level.STATE) -> Agency:
    return Agency(
        id=id,
        name=id,
        level=level,
        jurisdiction=jurisdiction,
        competences=competences,
        kafka_principal=f"User:{id}",
    )


def purpose(code: str, competence: str, *, blocked: bool = False, **extra: Any) -> Purpose:
    values: dict[str, Any] = {
        "code": code,
        "description": code,
        "legal_basis": f"§ 1 {code.upper()}G",
        "competence": competence,
        "data_classes": ("identifier", "personal"),
        "retention_days": 365,
        "allows_disclosure_blocked": blocked,
    }
    values.update(extra)
    return Purpose.model_validate(values)


def grant(id: str, consumer: str, purpose: str, **extra: Any) -> Grant:
    values: dict[str, Any] = {
        "id": id,
        "consumer": consumer,
        "event_types": ("population.AddressChanged",),
        "purpose": purpose,
        "fields": ("subject_id", "new_address", "effective_date"),
        "territorial_rule": TerritorialRule.NEW_ADDRESS,
        "valid_from": JAN_2026,
        "approved_by": "Data protection officer",
        "approved_at": JAN_2026,
    }
    values.update(extra)
    return Grant.model_validate(values)


def policy_set(
    agencies: tuple[Agency, ...],
    purposes: tuple[Purpose, ...],
    grants: tuple[Grant, ...],
    producers: tuple[ProducerAuthority, ...] = (),
) -> PolicySet:
    return PolicySet(
        directory=Path("."),
        territories=TerritoriesFile(territories=territories()),
        agencies=AgenciesFile(agencies=agencies),
        purposes=PurposesFile(purposes=purposes),
        producers=ProducersFile(producers=producers),
        grants=GrantsFile(grants=grants),
    )


REFERENCE = load_policy_set(Path(__file__).resolve().parents[2] / "policies" / "reference")


def ungoverned(policy_set: PolicySet) -> PolicySet:
    """`policy_set` without approvals.yaml: for tests that publish sets unsigned (approvals are
    tested in test_policy_approvals*.py)."""
    return replace(policy_set, approvals=None)


def reference_with(principals: dict[str, str]) -> PolicySet:
    """The reference set (without approval rules) plus an agency per entry of `principals`
    (agency id → its principal)."""
    document: dict[str, Any] = json.loads(canonical_bytes(ungoverned(REFERENCE)))
    template = document["agencies"][0]
    document["agencies"] += [
        {**template, "id": agency, "kafka_principal": principal}
        for agency, principal in principals.items()
    ]
    return from_document(document)
