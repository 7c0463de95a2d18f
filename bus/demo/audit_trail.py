"""The demo's last act: the audit trail indexed into the audit store, verified, and asked the
citizen's question for Ben ("who got my data?"), with each of his decisions replayed."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bus.audit.audit_key import (
    AuditKeyFiles,
    default_pinned_key,
    ensure_audit_key,
    load_pinned_key,
    pin_audit_key,
)
from bus.audit.indexer import IndexerOptions, run_indexer
from bus.audit.indexer_access import indexer_connection
from bus.audit.reconcile import ReconcileReport, reconcile
from bus.audit.replay import ReplayStatus, replay
from bus.audit.store import AuditStore, DecisionFilter, default_store_url, open_store
from bus.audit.store.audit_store import Checkpointing
from bus.audit.subject_report import SubjectReport, subject_report
from bus.audit.verify import IntegrityReport, verify_store
from bus.audit.witness import Witness, read_witness
from bus.control.topology import ensure_checkpoints_topic
from bus.demo.judge import Check
from bus.demo.scenario import Scenario, Step
from bus.kafka.admin import KafkaAdmin
from bus.kafka.topics import AUDIT_CHECKPOINTS_TOPIC, AUDIT_TOPIC, POLICY_TOPIC
from bus.record.audit_record import AUDIT_AUDIENCE, POLICY_DECISIONS
from bus.record.pseudonyms import Pseudonymizer

SUBJECT_STEP = 1  # Ben moves from Munich to Regensburg: three receivers, one refusal


@dataclass(frozen=True)
class AuditTrailResult:
    """The audit store asked, its integrity, the subject's report and the checks on them."""

    store: str
    integrity: IntegrityReport
    subject: str
    report: SubjectReport
    checks: list[Check]


async def index_and_ask(
    admin: KafkaAdmin,
    indexer_profile: Path,
    scenario: Scenario,
    pseudonyms: Pseudonymizer,
) -> AuditTrailResult:
    """Index the audit topic into the default store (as `bus audit index` does), verify and
    reconcile it, and ask it about the subject of step SUBJECT_STEP; `pseudonyms` gives that
    subject's audit pseudonym."""
    ensure_checkpoints_topic(admin, AUDIT_CHECKPOINTS_TOPIC)
    connection = indexer_connection(admin, AUDIT_TOPIC, POLICY_TOPIC, profile=indexer_profile)
    files = AuditKeyFiles.default()
    key = ensure_audit_key(files)
    pin_audit_key(key, default_pinned_key(), files)  # as `bus audit index` does on first start
    pinned = load_pinned_key(default_pinned_key(), files)
    store = open_store(default_store_url())
    try:
        options = IndexerOptions(checkpoint_topic=AUDIT_CHECKPOINTS_TOPIC, until_caught_up=True)
        await run_indexer(connection, store, Checkpointing(key), asyncio.Event(), options)
        witness = await read_witness(connection, AUDIT_CHECKPOINTS_TOPIC, pinned)
        reconciled = await reconcile(connection, store, AUDIT_TOPIC, witness)
        step = scenario.steps[SUBJECT_STEP]
        return await asyncio.to_thread(_ask, store, step, pseudonyms, witness, reconciled)
    finally:
        store.close()


def _reconciled(report: ReconcileReport) -> Check:
    return Check(
        f"the store holds every record on {report.topic} once, with the same bytes "
        f"({report.compared} compared)",
        report.consistent,
        "; ".join(d.describe(report.topic) for d in report.shown[:3]),
    )


def subject_of(step: Step) -> str:
    """The id of the person `step`'s event is about."""
    return str(getattr(step.event, type(step.event).subject_field))


def _ask(
    store: AuditStore,
    step: Step,
    pseudonyms: Pseudonymizer,
    witness: Witness,
    reconciled: ReconcileReport,
) -> AuditTrailResult:
    integrity = verify_store(store, load_pinned_key(default_pinned_key()), witness=witness)
    subject = subject_of(step)
    pseudonym = pseudonyms.pseudonym(AUDIT_AUDIENCE, subject)
    report = subject_report(store, pseudonym, datetime.now(UTC))
    found = store.find(DecisionFilter(subject_pseudonym=pseudonym))
    # Policy decisions only: an interest marker's record is a consumer's act, nothing to re-decide.
    replays = [replay(store, d) for d in found if d.columns.outcome in POLICY_DECISIONS]
    # The demo's own back offices: on a shared broker another subscriber (a test's) may have been
    # refused about him too, and that is not the scenario's to judge.
    ours = set(step.receivers) | set(step.denied)
    refused = {r.agency: r.reasons for r in report.refused if r.agency in ours}
    checks = [
        Check(
            f"the audit store's hash chain ({integrity.records} records) and its signed "
            f"checkpoints ({integrity.checkpoints}) verify against the pinned key and the "
            f"{integrity.witnessed} on the witness topic",
            integrity.intact,
            integrity.finding.message if integrity.finding else "",
        ),
        _reconciled(reconciled),
        Check(
            f"{subject}'s data-subject report names exactly who received data about him, and who "
            "was refused",
            set(report.agencies) == set(step.receivers)
            and refused == {agency: [reason] for agency, reason in step.denied.items()},
            f"received: {report.agencies}, refused: {refused}",
        ),
        Check(
            f"each of his {len(replays)} decisions, re-decided under its recorded policy snapshot, "
            "comes out the same",
            bool(replays) and all(r.status is ReplayStatus.MATCH for r in replays),
            "; ".join(r.detail for r in replays if r.status is not ReplayStatus.MATCH),
        ),
    ]
    return AuditTrailResult(store.description, integrity, subject, report, checks)
