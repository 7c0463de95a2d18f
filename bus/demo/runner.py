"""Orchestrates the demo: broker, policy, agencies, enforcer, back offices, registers, scenario."""

import asyncio
import logging
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer

from bus.control import policy_store
from bus.control.operator_watch import WatchTiming, run_operator_watch
from bus.control.topology import ensure_alerts_topic, ensure_registry_topics
from bus.demo.agencies import (
    KeyFolders,
    ask_without_grant,
    connections,
    register_interests,
    subscribe_back_offices,
)
from bus.demo.approvers import DemoApprovers
from bus.demo.audit_tail import AuditTail
from bus.demo.audit_trail import AuditTrailResult, index_and_ask
from bus.demo.governance import approval_story, purge_story
from bus.demo.judge import (
    Check,
    database_checks,
    decisions_complete,
    office_complete,
    policy_checks,
    step_decisions,
)
from bus.demo.register_export import export_csv, row_of
from bus.demo.scenario import BENEFITS, BENEFITS_PURPOSE, REGISTERS, TAX, Scenario, scenario
from bus.demo.watch_run import start_watch, stop_watch, wait_for_alert
from bus.devenv import broker
from bus.enforcer.runtime import EnforcerConfig, run_enforcer
from bus.envelope.codec import issue_event
from bus.envelope.kafka_binding import ingress_record
from bus.errors import ConfigError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.profile import load_profile
from bus.kafka.settings import KafkaSettings
from bus.kafka.topics import ingress_topic
from bus.keys import AgencySigningKey, KeyStore
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import compile_snapshot
from bus.record.alert import Alert
from bus.record.audit_record import AUDIT_AUDIENCE, RecordedOutcome
from bus.record.pseudonyms import (
    Pseudonymizer,
    default_pseudonym_key_file,
    ensure_pseudonym_key,
)
from bus.util.paths import PROJECT_ROOT, default_state_dir
from consumers import ConsumerNotAuthorizedError
from consumers.back_offices import REFERENCE_BACK_OFFICES
from producers.errors import ProducerNotAuthorizedError
from producers.register_adapter import FileResult, RegisterAdapter

log = logging.getLogger(__name__)
T = TypeVar("T")
ACL_ATTEMPTS = 40
REFERENCE_POLICY = PROJECT_ROOT / "policies" / "reference"
# Forged events in one burst: more than the reference quarantine_burst floor (10 in 5 minutes).
FORGED_BURST = 12
WATCH_ALERT_WAIT_S = 60.0
Say = Callable[[str], None]
Progress = Callable[[int, int, int, int], None]  # decisions audited, of, offices done, of


@dataclass
class DemoResult:
    """What a demo run found: the checks and what they were judged on, kept for the report."""

    scenario: Scenario
    checks: list[Check] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    forged_event_id: str = ""
    databases: dict[str, sqlite3.Connection] = field(default_factory=dict)
    pseudonyms: Pseudonymizer | None = None
    workdir: Path = Path()
    audit_trail: AuditTrailResult | None = None
    watch_alert: Alert | None = None

    @property
    def passed(self) -> bool:
        """Every check held (and there was at least one)."""
        return bool(self.checks) and all(c.held for c in self.checks)


async def run_demo(
    settings: KafkaSettings, say: Say, progress: Progress, timeout_s: float = 120.0
) -> DemoResult:
    """Run the scripted scenario end to end on the broker at `settings`: policy, agencies,
    subscriptions, enforcer, back offices, register exports, then the audit trail; `say` and
    `progress` report as it goes; `timeout_s` bounds the wait for every decision to be audited
    and every back office to have its events."""
    run = f"D{datetime.now(UTC):%H%M}{secrets.token_hex(2).upper()}"
    workdir = default_state_dir() / "demo" / run
    state = default_state_dir() / "keys"
    result = DemoResult(scenario(run), workdir=workdir)

    started = time.monotonic()
    broker.up(settings, say=lambda _line: None)
    say(f"broker up at {settings.bootstrap} ({time.monotonic() - started:.1f} s)")
    with ExitStack() as stack:  # the processes the scenario starts, stopped however it ends
        return await _run_scenario(
            settings, say, progress, timeout_s, result, workdir, state, stack
        )


async def _run_scenario(
    settings: KafkaSettings,
    say: Say,
    progress: Progress,
    timeout_s: float,
    result: "DemoResult",
    workdir: Path,
    state: Path,
    stack: ExitStack,
) -> "DemoResult":
    # Each part as its own principal, from the profiles `bus kafka up` wrote: the operator sets
    # up, the enforcer enforces (no super user anywhere), the agencies use their own credentials.
    operator = load_profile("operator", settings.profiles_dir / "operator.toml")
    enforcer_connection = load_profile("enforcer", settings.profiles_dir / "enforcer.toml")
    indexer_profile = settings.profiles_dir / "audit-indexer.toml"
    reader = load_profile("audit-indexer", indexer_profile)
    admin = KafkaAdmin(operator)

    # The demo's approvers are enrolled and sign the set, as the board, the DPO and the data
    # owners would (bus/demo/approvers.py); the set in force judges whether that is enough.
    approvers = DemoApprovers(state / "approvers")
    policy_set = approvers.enrolled(load_policy_set(REFERENCE_POLICY))
    policy_store.ensure_policy_topic(admin)
    verdict = await approvers.apply_signed(operator, policy_set)
    if not verdict.approved:
        raise ConfigError(f"the reference policy set was refused: {verdict.refusal()}")
    snapshot = compile_snapshot(policy_set)
    say(
        f"reference policy applied: {len(snapshot.agencies)} agencies, snapshot {snapshot.hash[:19]}"
    )
    approval_check, said = await approval_story(approvers, operator, policy_set)
    result.checks.append(approval_check)
    say(said)

    offices = [o.agency_id for o in REFERENCE_BACK_OFFICES]
    agency_connections = connections(admin, operator, [*REGISTERS, *offices])
    keys = KeyFolders(state / "private", state / "public")
    signing_keys = {r: keys.signing_key(r) for r in REGISTERS}
    say(f"agencies onboarded with their own credentials: {', '.join([*REGISTERS, *offices])}")

    ensure_registry_topics(admin)
    ensure_alerts_topic(admin)
    # The oversight watch, as an operator runs it: its own process, principal and profile.
    oversight = start_watch(settings.profiles_dir / "watch.toml", workdir / "watch.log")
    stack.callback(stop_watch, oversight)
    audit = AuditTail(reader)
    await audit.start()
    permitted = await subscribe_back_offices(operator, admin, snapshot)
    refusal = await ask_without_grant(
        operator, admin, snapshot, result.scenario.refused_subscription
    )
    say(
        f"{sum(d.permitted for d in permitted)} subscriptions registered; "
        f"{refusal.consumer} asking for {refusal.purpose!r}: refused "
        f"({', '.join(r.value for r in refusal.reasons)})"
    )
    result.checks.append(
        Check(
            f"{refusal.consumer} is refused a subscription for {refusal.purpose}",
            not refusal.permitted and all(d.permitted for d in permitted),
        )
    )

    pseudonym_key_file = default_pseudonym_key_file()
    result.pseudonyms = Pseudonymizer(ensure_pseudonym_key(pseudonym_key_file))
    stop = asyncio.Event()
    config = EnforcerConfig(
        policy_dir=None,
        key_dir=state / "public",
        pseudonym_key_file=pseudonym_key_file,
        reload_interval_s=1.0,
    )
    # As `bus acl sync --watch` and `bus enforce` run: the operator's watch creates the topics
    # and grants the agencies' ACLs as subscriptions arrive; the enforcer only reads and writes.
    watch = run_operator_watch(
        operator,
        config.state_topics,
        None,
        config.ingress_prefix,
        config.retention,
        WatchTiming(interval_s=2.0, poll_s=0.5),
        stop,
    )
    enforcer = run_enforcer(enforcer_connection, config, stop)
    tasks = [
        asyncio.create_task(watch, name="operator watch"),
        asyncio.create_task(enforcer, name="enforcer"),
    ]
    public_keys = KeyStore.from_directory(state / "public")
    for office in REFERENCE_BACK_OFFICES:
        inbox = office.open_database(workdir / f"{office.agency_id}.db")
        result.databases[office.agency_id] = inbox.db
        connection = agency_connections[office.agency_id]
        tasks.append(
            asyncio.create_task(
                _while_acls_propagate(
                    partial(office.consumer(connection, public_keys, inbox).run, stop),
                    ConsumerNotAuthorizedError,
                ),
                name=office.agency_id,
            )
        )
    say("enforcer and back offices started")
    cases = list(result.scenario.benefits_cases)
    await register_interests(admin, BENEFITS, agency_connections[BENEFITS], BENEFITS_PURPOSE, cases)
    say(
        f"{BENEFITS} registered an interest in the {len(cases)} people it has a case about "
        "(`bus interest add`); changes about anyone else are withheld from it (NO_INTEREST)"
    )

    burst_at = time.time()
    forged, files = await _publish(result.scenario, workdir, agency_connections, signing_keys, say)
    result.checks.append(
        Check(
            "each register's export is published; the bad row is reported with file:line and skipped",
            [(f.published, f.rejected) for f in files] == [(4, 1), (1, 0), (1, 0)]
            and all(":" in str(p) for f in files for p in f.problems),
            f"{[(f.name, f.published, f.rejected) for f in files]}",
        )
    )
    result.forged_event_id = forged
    say(
        f"{FORGED_BURST} forged events published with the Munich register's credentials but "
        "another key (a stolen password: the watch should notice)"
    )

    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            _raise_if_failed(tasks)
            await audit.poll()
            decisions = step_decisions(result.scenario, audit.records, result.pseudonyms)
            audited = sum(len(d) for d in decisions)
            done = sum(
                office_complete(result.scenario, office, result.databases[office.agency_id])
                for office in REFERENCE_BACK_OFFICES
            )
            progress(audited, result.scenario.decision_count, done, len(REFERENCE_BACK_OFFICES))
            if (
                decisions_complete(result.scenario, decisions)
                and done == len(REFERENCE_BACK_OFFICES)
                and any(r.get("claimed_event_id") == forged for r in audit.records)
            ):
                break
            await asyncio.sleep(0.3)
    finally:
        stop.set()
        for task in tasks:
            with suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 30)
        await audit.stop()

    decisions = step_decisions(result.scenario, audit.records, result.pseudonyms)
    result.audit = audit.records
    result.checks += policy_checks(result.scenario, decisions)
    result.checks += database_checks(result.scenario, result.databases)
    quarantined = [r for r in audit.records if r.get("claimed_event_id") == forged]
    result.checks.append(
        Check(
            "the forged event is quarantined, delivered to nobody",
            [r.get("outcome") for r in quarantined] == [RecordedOutcome.QUARANTINED],
            f"audited {[(r.get('outcome'), r.get('reasons')) for r in quarantined]}",
        )
    )
    refusals = [
        r
        for r in audit.records
        if r.get("outcome") == RecordedOutcome.SUBSCRIPTION_REFUSED
        and (r.get("consumer"), r.get("purpose")) == (refusal.consumer, refusal.purpose)
    ]
    result.checks.append(Check("the refused subscription is in the audit trail", bool(refusals)))
    marked = {
        r.get("subject_pseudonym")
        for r in audit.records
        if r.get("outcome") == RecordedOutcome.INTEREST_ADDED and r.get("consumer") == BENEFITS
    }
    expected = {result.pseudonyms.pseudonym(AUDIT_AUDIENCE, person) for person in cases}
    result.checks.append(
        Check(
            f"each interest {BENEFITS} registered is in the audit trail (who, whom, purpose, when)",
            expected <= marked,
            f"{len(expected & marked)} of {len(expected)} audited",
        )
    )
    forged_source = f"unverified@{ingress_topic(result.scenario.steps[0].event.event_type)}"
    result.watch_alert = await wait_for_alert(
        load_profile("audit-verifier", settings.profiles_dir / "audit-verifier.toml"),
        "quarantine_burst",
        forged_source,
        burst_at,
        WATCH_ALERT_WAIT_S,
    )
    result.checks.append(
        Check(
            "the watch raises an alert for the burst of forged events",
            result.watch_alert is not None,
            result.watch_alert.summary if result.watch_alert else f"see {workdir / 'watch.log'}",
        )
    )
    tax_office = next(o for o in REFERENCE_BACK_OFFICES if o.agency_id == TAX)
    purge_check, said = await purge_story(
        tax_office, workdir / f"{TAX}.db", agency_connections[TAX], public_keys
    )
    result.checks.append(purge_check)
    say(said)
    say("indexing the audit trail into the audit store")
    result.audit_trail = await index_and_ask(
        admin, indexer_profile, result.scenario, result.pseudonyms
    )
    result.checks += result.audit_trail.checks
    return result


async def _while_acls_propagate(action: Callable[[], Awaitable[T]], refused: type[Exception]) -> T:
    """ACLs the enforcer has just synced reach the broker's authorizer within a moment: retry a
    refusal for up to 20 s."""
    for _ in range(ACL_ATTEMPTS - 1):
        try:
            return await action()
        except refused:
            await asyncio.sleep(0.5)
    return await action()


async def _publish(
    scenario: Scenario,
    workdir: Path,
    agency_connections: dict[str, KafkaConnection],
    signing_keys: dict[str, AgencySigningKey],
    say: Say,
) -> tuple[str, list[FileResult]]:
    """Each register's legacy system drops a CSV export (Munich's has one bad row: a date that
    does not exist); its adapter publishes the rows. Then someone with the Munich register's
    credentials, but not its signing key, publishes a burst of forged events (more than the watch's
    quarantine floor). Returns the first forged event's id and the adapters' file results."""
    results: list[FileResult] = []
    munich = scenario.steps[0].register
    for register in REGISTERS:
        events = [s.event for s in scenario.steps if s.register == register]
        wrong_date = {**row_of(events[0]), "effective_date": "2026-13-45"}
        bad = [wrong_date] if register == munich else []
        inbox = workdir / "registers" / register
        inbox.mkdir(parents=True, exist_ok=True)
        (inbox / f"export-{scenario.run}.csv").write_text(export_csv(events, bad))
        adapter = partial(
            _run_adapter, register, signing_keys[register], agency_connections[register], inbox
        )
        for result in await _while_acls_propagate(adapter, ProducerNotAuthorizedError):
            results.append(result)
            say(f"{register}: {result.summary()}")
            for problem in result.problems:
                say(f"  {problem}")
    stolen = AgencySigningKey.generate(munich)
    forgeries = [issue_event(scenario.steps[0].event, stolen) for _ in range(FORGED_BURST)]
    raw = AIOKafkaProducer(**agency_connections[munich].aiokafka_kwargs(), acks="all")
    await raw.start()
    try:
        for forged in forgeries:
            record = ingress_record(forged)
            await raw.send(record.topic, record.value, key=record.key, headers=record.headers)
        await raw.flush()
    finally:
        await raw.stop()
    return forgeries[0].attributes.id, results


async def _run_adapter(
    register: str, key: AgencySigningKey, connection: KafkaConnection, inbox: Path
) -> list[FileResult]:
    async with RegisterAdapter(register, key, connection, inbox) as adapter:
        return await adapter.process_pending()


def _raise_if_failed(tasks: list["asyncio.Task[None]"]) -> None:
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise RuntimeError(f"{task.get_name()} stopped: {task.exception()!r}")
