"""Audit records as the enforcer writes them, made up in bulk for store, API and CLI tests."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bus.audit.store.rows import SourceRecord
from bus.envelope.attributes import format_time
from bus.record.audit_record import AUDIT_AUDIENCE, FORMAT_VERSION
from bus.record.pseudonyms import Pseudonymizer

PSEUDONYMS = Pseudonymizer(b"k" * 32)
CONSUMERS = ("tax-by", "benefits-de", "kba-de", "elect-09162000")
PRODUCERS = ("muni-09162000", "muni-09362000")
START = datetime(2026, 11, 1, tzinfo=UTC)


def person(i: int) -> str:
    return f"person-{i:06d}"


def audit_document(i: int, people: int = 1_000, **overrides: Any) -> dict[str, Any]:
    """Decision `i`: a deterministic mix of consumers, producers, outcomes and people."""
    permit = i % 3 != 0
    consumer = CONSUMERS[i % len(CONSUMERS)]
    document: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "event_id": f"01900000-0000-7000-8000-{i:012d}",
        "event_type": "AddressChanged" if i % 5 else "PersonDied",
        "producer": PRODUCERS[i % len(PRODUCERS)],
        "consumer": consumer,
        "purpose": f"purpose-{consumer}",
        "legal_basis": f"§ {i % 7 + 1} Law",
        "outcome": "PERMIT" if permit else "DENY",
        "reasons": [] if permit else (["OUT_OF_JURISDICTION"] if i % 2 else ["DISCLOSURE_BLOCKED"]),
        "released_fields": ["person_id", "new_address"] if permit else [],
        "grant_id": f"grant-{consumer}" if permit else None,
        "snapshot_hash": "sha256:" + "ab" * 32,
        "decided_at": format_time(START + timedelta(seconds=i)),
        "subject_pseudonym": PSEUDONYMS.pseudonym(AUDIT_AUDIENCE, person(i % people)),
        "input": {"topic": "bus.ingress.AddressChanged", "partition": 0, "offset": i},
        "claimed_event_id": None,
        "facts": None,
    }
    document.update(overrides)
    return document


def source_records(
    count: int, first: int = 0, people: int = 1_000, topic: str = "bus.audit"
) -> list[SourceRecord]:
    return [
        SourceRecord(topic, 0, i, json.dumps(audit_document(i, people)).encode())
        for i in range(first, first + count)
    ]


def quarantined_document(i: int, ingress_topic: str, reason: str = "UNKNOWN_KEY") -> dict[str, Any]:
    """Record `i` of an event refused before it could be verified: no producer, no subject, only
    the id it claimed and where it was read."""
    return audit_document(
        i,
        outcome="QUARANTINED",
        reasons=[reason],
        event_id=None,
        event_type=None,
        producer=None,
        consumer=None,
        purpose=None,
        legal_basis=None,
        grant_id=None,
        released_fields=[],
        subject_pseudonym=None,
        claimed_event_id=f"claimed-{i}",
        input={"topic": ingress_topic, "partition": 0, "offset": i},
    )
