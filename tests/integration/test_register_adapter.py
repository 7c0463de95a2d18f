"""The register adapter on the real broker, as a principal holding only the ACLs policy gives a
register: every good row published exactly once (read_committed, by person id), bad rows reported
with file:line, a kill -9 mid-file resumed without loss or repetition, the same content dropped
again not published again."""

import asyncio
import csv
import hashlib
import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from bus.catalog.population import AddressChanged, PersonDied
from bus.control.acls import desired_acls
from bus.control.topology import ensure_ingress_topics, ensure_source_offsets_topics
from bus.envelope.codec import issue_event
from bus.envelope.kafka_binding import header_map, ingress_record, verify_record
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.profile import write_profile
from bus.kafka.topics import ingress_topic, source_offsets_topic
from bus.keys import AgencySigningKey, KeyStore
from bus.keys.keystore import public_key_from_pem
from bus.policy.documents import ProducerAuthority
from bus.policy.snapshot import compile_snapshot
from producers.errors import ProducerNotAuthorizedError, ProducerUnavailableError
from producers.register_adapter import DEFAULT_CHUNK_SIZE, FileStatus, RegisterAdapter
from producers.register_adapter.columns import COLUMNS
from producers.register_adapter.errors import ProgressTopicUnavailableError
from producers.register_adapter.progress import load_progress
from tests.support.child_processes import ChildProcesses
from tests.support.events import address_changed
from tests.support.kafka import Principals, read_topic
from tests.support.policy_sets import agency, policy_set

MOVED, DIED = AddressChanged.event_type, PersonDied.event_type
ROWS, CHUNK = 3000, 200


@dataclass(frozen=True)
class Register:
    """A municipality's register on the bus: its principal, key and progress topic."""

    agency_id: str
    connection: KafkaConnection
    key: AgencySigningKey
    keys: KeyStore
    progress_topic: str

    def adapter(self, inbox: Path, chunk_size: int = DEFAULT_CHUNK_SIZE) -> RegisterAdapter:
        return RegisterAdapter(
            self.agency_id,
            self.key,
            self.connection,
            inbox,
            chunk_size=chunk_size,
            connect_attempts=2,
            retry_backoff_s=0.2,
        )


@pytest.fixture
async def register(kafka_admin: KafkaAdmin, principals: Principals) -> AsyncIterator[Register]:
    connection = principals.create("muni")
    agency_id = connection.username
    snapshot = compile_snapshot(
        policy_set(
            agencies=(agency(agency_id, "09162000", "population-register"),),
            purposes=(),
            grants=(),
            producers=(
                ProducerAuthority(
                    agency=agency_id, event_types=(MOVED, DIED), territory="09162000"
                ),
            ),
        )
    )
    ensure_ingress_topics(kafka_admin)
    ensure_source_offsets_topics(kafka_admin, [agency_id])
    kafka_admin.create_acls(desired_acls(snapshot, [], time.time()))  # grant only: no sync
    key = AgencySigningKey.generate(agency_id)
    keys = KeyStore([public_key_from_pem(agency_id, key.public_pem())])
    progress_topic = source_offsets_topic(agency_id)
    await _until_acls_apply(connection, progress_topic)
    yield Register(agency_id, connection, key, keys, progress_topic)
    kafka_admin.delete_topics([progress_topic])


async def _until_acls_apply(connection: KafkaConnection, topic: str) -> None:
    # ACLs reach the authorizer through the metadata log: allow a moment before they apply.
    for _ in range(40):
        try:
            await load_progress(connection, topic)
            return
        except ProgressTopicUnavailableError:
            await asyncio.sleep(0.25)
    pytest.fail(f"{connection.username} never got READ on {topic}")


def move(person_id: str) -> dict[str, str]:
    return {
        "event": "address_changed",
        "person_id": person_id,
        "effective_date": "2026-11-01",
        "prev_street": "Marienplatz",
        "prev_house_number": "8",
        "prev_postal_code": "80331",
        "prev_municipality_code": "09162000",
        "prev_country": "DE",
        "new_street": "Hauptstraße",
        "new_house_number": "12a",
        "new_postal_code": "93047",
        "new_municipality_code": "09362000",
        "new_country": "DE",
        "moved_abroad": "false",
        "disclosure_block": "false",
    }


def death(person_id: str) -> dict[str, str]:
    return {
        "event": "person_died",
        "person_id": person_id,
        "date_of_death": "2026-10-30",
        "registration_municipality_code": "09162000",
        "cause_of_death_code": "I21.9",
        "disclosure_block": "false",
    }


def csv_bytes(rows: list[dict[str, str] | str]) -> bytes:
    """A register export; a str row is written as it is (for rows with the wrong column count)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        if isinstance(row, str):
            out.write(row + "\n")
        else:
            writer.writerow([row.get(name, "") for name in COLUMNS])
    return out.getvalue().encode()


def run_prefix() -> str:
    """Person ids unique to this run: the ingress topics are shared with other tests."""
    return f"R{os.urandom(5).hex()}"


async def published(connection: KafkaConnection, prefix: str) -> dict[str, Counter[str]]:
    """Per event type: how often each person id of this run appears, read_committed."""
    counts: dict[str, Counter[str]] = {}
    for event_type in (MOVED, DIED):
        records = await read_topic(connection, ingress_topic(event_type))
        counts[event_type] = Counter(
            r.key.decode()
            for r in records
            if r.key is not None and r.key.startswith(prefix.encode())
        )
    return counts


async def progress_records(connection: KafkaConnection, topic: str) -> list[dict[str, object]]:
    """The progress topic's committed records, in order (read here without the adapter's code)."""
    return [json.loads(r.value) for r in await read_topic(connection, topic, idle_s=1.0)]


async def test_good_rows_are_published_once_signed_and_bad_rows_reported_with_file_line(
    kafka_broker: KafkaConnection,
    register: Register,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    prefix = run_prefix()
    moves = [f"{prefix}-M{i}" for i in range(5)]
    deaths = [f"{prefix}-D{i}" for i in range(3)]
    rows: list[dict[str, str] | str] = [
        move(moves[0]),
        move(moves[1]),
        move(f"{prefix}-BAD1") | {"event": "emigrated"},  # line 4
        death(deaths[0]),
        move(moves[2]),
        move(f"{prefix}-BAD2") | {"new_street": ""},  # line 7
        death(deaths[1]) | {"cause_of_death_code": ""},
        move(moves[3]),
        f"person_died,{prefix}-BAD3,2026-10-30",  # line 10
        death(deaths[2]),
        move(moves[4]),
    ]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "2026-11-01-moves.csv").write_bytes(csv_bytes(rows))
    # Not ready: still being written, or hidden. Never read, never moved.
    (inbox / "2026-11-02-moves.csv.part").write_bytes(csv_bytes([move(f"{prefix}-PART")]))
    (inbox / ".2026-11-03-moves.csv").write_bytes(csv_bytes([move(f"{prefix}-HIDDEN")]))

    caplog.set_level(logging.WARNING, logger="producers.register_adapter")
    async with register.adapter(inbox, chunk_size=3) as adapter:
        [result] = await adapter.process_pending()

    expected_problems = [
        "2026-11-01-moves.csv:4: event: unknown event 'emigrated' (expected address_changed or "
        "person_died)",
        "2026-11-01-moves.csv:7: new_street: missing value",
        f"2026-11-01-moves.csv:10: expected {len(COLUMNS)} values (one per header column), found 3",
    ]
    assert result.status is FileStatus.PUBLISHED
    assert (result.published, result.rejected) == (8, 3)
    assert [str(p) for p in result.problems] == expected_problems
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == expected_problems
    assert (adapter.stats.rows_published, adapter.stats.rows_rejected) == (8, 3)
    assert adapter.stats.files_done == 1

    # The file went to done/ with its bad-row report; what was not ready stayed.
    assert sorted(p.name for p in inbox.iterdir()) == [
        ".2026-11-03-moves.csv",
        "2026-11-02-moves.csv.part",
        "done",
    ]
    assert result.moved_to == inbox / "done" / "2026-11-01-moves.csv"
    report = (inbox / "done" / "2026-11-01-moves.csv.rejected.txt").read_text().splitlines()
    assert report[1:] == expected_problems

    counts = await published(kafka_broker, prefix)
    assert counts[MOVED] == Counter({m: 1 for m in moves})
    assert counts[DIED] == Counter({d: 1 for d in deaths})
    # Each event is signed by the register and says what its row said.
    for event_type, ids in ((MOVED, moves), (DIED, deaths)):
        for record in await read_topic(kafka_broker, ingress_topic(event_type)):
            if record.key is None or not record.key.startswith(prefix.encode()):
                continue
            assert header_map(record.headers)["ce_source"] == register.agency_id
            event = verify_record(record.value, record.headers, register.keys).to_event()
            assert event.subject() in ids
            if isinstance(event, PersonDied):
                assert event.cause_of_death_code == (
                    None if event.subject_id == deaths[1] else "I21.9"
                )
            else:
                assert isinstance(event, AddressChanged)
                assert event.new_address.municipality_code == "09362000"

    # Four chunks of three records, each with its progress record; the last says complete.
    progress = await progress_records(kafka_broker, register.progress_topic)
    assert [(p["rows_done"], p["complete"]) for p in progress] == [
        (3, False),
        (6, False),
        (9, False),
        (11, True),
    ]
    assert progress[-1]["published"] == 8
    assert progress[-1]["rejected"] == 3
    assert progress[-1]["file"] == "2026-11-01-moves.csv"


async def test_the_same_content_under_another_name_is_not_published_again(
    kafka_broker: KafkaConnection, register: Register, tmp_path: Path
) -> None:
    prefix = run_prefix()
    content = csv_bytes([move(f"{prefix}-M0"), death(f"{prefix}-D0"), move(f"{prefix}-M1")])
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "export-monday.csv").write_bytes(content)
    async with register.adapter(inbox) as adapter:
        [first] = await adapter.process_pending()
    assert first.status is FileStatus.PUBLISHED

    # Dropped again under another name; a new adapter knows it only from the progress topic.
    (inbox / "export-tuesday.csv").write_bytes(content)
    async with register.adapter(inbox) as adapter:
        [again] = await adapter.process_pending()
    assert again.status is FileStatus.DUPLICATE
    assert again.duplicate_of == "export-monday.csv"
    assert again.published == 0
    assert "not published again: same content as export-monday.csv" in again.summary()
    assert adapter.stats.duplicates == 1
    assert adapter.stats.rows_published == 0
    assert not (inbox / "export-tuesday.csv").exists()
    note = (inbox / "done" / "export-tuesday.csv.duplicate.txt").read_text()
    assert "same content" in note
    assert "export-monday.csv" in note

    counts = await published(kafka_broker, prefix)
    assert counts[MOVED] == Counter({f"{prefix}-M0": 1, f"{prefix}-M1": 1})
    assert counts[DIED] == Counter({f"{prefix}-D0": 1})
    progress = await progress_records(kafka_broker, register.progress_topic)
    assert len(progress) == 1, "the duplicate must not write progress of its own"


async def test_a_file_committed_but_not_yet_moved_is_moved_without_publishing_again(
    kafka_broker: KafkaConnection, register: Register, tmp_path: Path
) -> None:
    prefix = run_prefix()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    name = "export.csv"
    (inbox / name).write_bytes(csv_bytes([move(f"{prefix}-M0"), "address_changed,broken"]))
    async with register.adapter(inbox) as adapter:
        [first] = await adapter.process_pending()
    assert (first.status, first.published, first.rejected) == (FileStatus.PUBLISHED, 1, 1)
    # As if the process had died after the commit, before the move: the file is back in the
    # inbox and not in done/.
    (inbox / "done" / name).rename(inbox / name)
    (inbox / "done" / f"{name}.rejected.txt").unlink()

    async with register.adapter(inbox) as adapter:
        [settled] = await adapter.process_pending()
    assert settled.status is FileStatus.ALREADY_COMPLETE
    assert (settled.published, settled.rejected) == (1, 1)
    assert not (inbox / name).exists()
    assert (inbox / "done" / name).exists()
    assert (inbox / "done" / f"{name}.rejected.txt").read_text().splitlines()[1:] == [
        f"{name}:3: expected {len(COLUMNS)} values (one per header column), found 2"
    ]
    counts = await published(kafka_broker, prefix)
    assert counts[MOVED] == Counter({f"{prefix}-M0": 1})


async def test_a_file_without_the_header_is_rejected_whole_and_nothing_is_published(
    kafka_broker: KafkaConnection, register: Register, tmp_path: Path
) -> None:
    prefix = run_prefix()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    data = csv_bytes([move(f"{prefix}-M0")]).replace(b"prev_country", b"prev_land")
    (inbox / "export.csv").write_bytes(data)
    async with register.adapter(inbox) as adapter:
        [result] = await adapter.process_pending()
    assert result.status is FileStatus.REJECTED
    assert result.error is not None
    assert result.error.startswith("export.csv: header row is not a register export (missing")
    assert "prev_country" in result.error
    assert (inbox / "rejected" / "export.csv").read_bytes() == data
    assert "prev_country" in (inbox / "rejected" / "export.csv.error.txt").read_text()
    counts = await published(kafka_broker, prefix)
    assert not counts[MOVED]
    assert not await progress_records(kafka_broker, register.progress_topic)


async def test_a_principal_without_the_registers_acls_is_refused_clearly(
    principals: Principals, tmp_path: Path
) -> None:
    connection = principals.create("muni-noacl")
    key = AgencySigningKey.generate(connection.username)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "export.csv").write_bytes(csv_bytes([move("P-0000-0001")]))
    adapter = RegisterAdapter(connection.username, key, connection, inbox)
    with pytest.raises(ProducerNotAuthorizedError, match="may not use the transactional id"):
        await adapter.process_pending()
    assert (inbox / "export.csv").exists()


async def test_an_unreachable_broker_fails_clearly_after_bounded_retries(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = AgencySigningKey.generate("muni-nowhere")
    connection = KafkaConnection(f"127.0.0.1:{port}", "muni-nowhere", "pw")
    (tmp_path / "export.csv").write_bytes(csv_bytes([move("P-0000-0001")]))
    adapter = RegisterAdapter(
        "muni-nowhere", key, connection, tmp_path, connect_attempts=2, retry_backoff_s=0.1
    )
    started = time.monotonic()
    with pytest.raises(ProducerUnavailableError, match=r"after 2 attempts.*nothing was published"):
        await adapter.process_pending()
    assert time.monotonic() - started < 30
    assert (tmp_path / "export.csv").exists()


async def test_an_open_transaction_of_a_crashed_adapter_is_aborted_and_its_rows_sent_once(
    kafka_broker: KafkaConnection, register: Register, tmp_path: Path
) -> None:
    prefix = run_prefix()
    people = [f"{prefix}-M{i}" for i in range(4)]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    data = csv_bytes([move(p) for p in people])
    (inbox / "export.csv").write_bytes(data)
    # An adapter that crashed mid-chunk: it sent the first two rows' events and a progress record
    # saying they are done, under the adapter's transactional id, and never committed.
    crashed = AIOKafkaProducer(
        **register.connection.aiokafka_kwargs(),
        transactional_id=f"{register.agency_id}.register-adapter",
    )
    await crashed.start()
    try:
        await crashed.begin_transaction()
        for person in people[:2]:
            r = ingress_record(issue_event(address_changed(person), register.key))
            await (await crashed.send(r.topic, r.value, key=r.key, headers=r.headers))
        sha256 = hashlib.sha256(data).hexdigest()
        progress = {
            "file": "export.csv",
            "sha256": sha256,
            "rows_done": 2,
            "complete": False,
            "published": 2,
            "rejected": 0,
        }
        await crashed.send_and_wait(
            register.progress_topic, json.dumps(progress).encode(), key=sha256.encode()
        )

        async with register.adapter(inbox) as adapter:
            [result] = await adapter.process_pending()
        assert (result.status, result.published) == (FileStatus.PUBLISHED, 4)

        # Fenced: the crashed instance can no longer commit what it had sent.
        with pytest.raises((KafkaError, TimeoutError)):
            await asyncio.wait_for(crashed.commit_transaction(), 20)
    finally:
        await crashed.stop()

    counts = await published(kafka_broker, prefix)
    assert counts[MOVED] == Counter({p: 1 for p in people})
    # The aborted events did reach the broker: they are there, invisible to read_committed.
    uncommitted = await read_topic(
        kafka_broker, ingress_topic(MOVED), isolation_level="read_uncommitted"
    )
    mine = Counter(
        r.key.decode() for r in uncommitted if r.key and r.key.startswith(prefix.encode())
    )
    assert mine == Counter({people[0]: 2, people[1]: 2, people[2]: 1, people[3]: 1})
    progress_seen = await progress_records(kafka_broker, register.progress_topic)
    assert [(p["rows_done"], p["complete"]) for p in progress_seen] == [(4, True)]


# --- kill -9 mid-file, restart -------------------------------------------------------------


def big_export(prefix: str) -> tuple[bytes, list[str], list[str], list[int]]:
    """ROWS rows alternating moves and deaths, every 500th one bad (on lines 501, 1001, …)."""
    rows: list[dict[str, str] | str] = []
    moves, deaths, bad_lines = [], [], []
    for i in range(ROWS):
        person = f"{prefix}-{i:05d}"
        if i % 500 == 499:
            rows.append(move(person) | {"effective_date": "tomorrow"})
            bad_lines.append(i + 2)
        elif i % 2:
            rows.append(death(person))
            deaths.append(person)
        else:
            rows.append(move(person))
            moves.append(person)
    return csv_bytes(rows), moves, deaths, bad_lines


@dataclass
class AdapterProcess:
    home: Path
    inbox: Path
    agency_id: str
    log: Path

    def start(self, *extra: str) -> "subprocess.Popen[bytes]":
        command = [
            sys.executable,
            "-c",
            "from bus.cli.main import main; main()",
            "register-adapter",
            "run",
            "--agency",
            self.agency_id,
            "--inbox",
            str(self.inbox),
            "--chunk-size",
            str(CHUNK),
            "--poll-interval",
            "0.2",
            "--log-format",
            "text",
            *extra,
        ]
        with self.log.open("ab") as out:
            return subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "BUS_HOME": str(self.home)},
            )

    def rows_done_logged(self) -> int:
        found = re.findall(rb"(\d+)/\d+ records done", self.log.read_bytes())
        return int(found[-1]) if found else 0

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def adapter_process(register: Register, tmp_path: Path) -> AdapterProcess:
    """The CLI as an agency runs it: key and credentials in its state folder (BUS_HOME)."""
    home = tmp_path / "home"
    private = home / "keys" / "private"
    private.mkdir(parents=True)
    (private / f"{register.agency_id}.key.pem").write_bytes(register.key.private_pem())
    (private / f"{register.agency_id}.key.pem").chmod(0o600)
    # Its connection profile where `bus agency onboard` writes it, its password beside it.
    agencies = home / "agencies"
    write_profile(
        agencies / f"{register.agency_id}.toml",
        register.connection,
        agencies / f"{register.agency_id}.password",
    )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    return AdapterProcess(home, inbox, register.agency_id, tmp_path / "adapter.log")


async def until(
    condition: Callable[[], bool], what: str, process: AdapterProcess, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; adapter log:\n{process.tail()}")
        await asyncio.sleep(0.01)


@pytest.mark.slow
async def test_kill_9_mid_file_then_restart_publishes_every_row_exactly_once(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    register: Register,
    tmp_path: Path,
    children: ChildProcesses,
) -> None:
    prefix = run_prefix()
    data, moves, deaths, bad_lines = big_export(prefix)
    runner = adapter_process(register, tmp_path)
    (runner.inbox / "moves.csv").write_bytes(data)

    # 1. Killed with SIGKILL as soon as it has committed a chunk: usually inside the next one.
    first = children.track(runner.start())
    await until(lambda: runner.rows_done_logged() > 0, "a first chunk", runner, 120)
    first.kill()
    first.wait()
    progress = await progress_records(kafka_broker, register.progress_topic)
    assert progress, "the kill came before any progress was committed"
    assert not progress[-1]["complete"], "the file was finished before the kill: raise ROWS"
    killed_at = int(str(progress[-1]["rows_done"]))
    assert 0 < killed_at < ROWS
    assert (runner.inbox / "moves.csv").exists()

    # 2. Stopped with SIGTERM mid-file: the chunk in hand is committed, then it exits cleanly.
    second = children.track(runner.start())
    await until(
        lambda: runner.rows_done_logged() > killed_at, "progress after restart", runner, 120
    )
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0, runner.tail()
    assert "register adapter stopped" in runner.tail()
    progress = await progress_records(kafka_broker, register.progress_topic)
    stopped_at = int(str(progress[-1]["rows_done"]))
    assert killed_at < stopped_at, "the second run published nothing"

    # 3. Once more, to the end of the inbox.
    third = children.track(runner.start("--once"))
    assert third.wait(timeout=180) == 0, runner.tail()
    summary = f"moves.csv: {len(moves) + len(deaths)} events published, {len(bad_lines)} bad rows"
    assert summary in runner.tail()

    # Every row exactly once (read_committed), the bad rows reported, the file in done/.
    counts = await published(kafka_broker, prefix)
    assert counts[MOVED] == Counter({m: 1 for m in moves}), "moves lost or repeated"
    assert counts[DIED] == Counter({d: 1 for d in deaths}), "deaths lost or repeated"
    assert not (runner.inbox / "moves.csv").exists()
    assert (runner.inbox / "done" / "moves.csv").read_bytes() == data
    report = (runner.inbox / "done" / "moves.csv.rejected.txt").read_text().splitlines()
    assert report[1:] == [
        f"moves.csv:{line}: effective_date: expected a date as YYYY-MM-DD" for line in bad_lines
    ]
    progress = await progress_records(kafka_broker, register.progress_topic)
    assert progress[-1] == {
        "file": "moves.csv",
        "sha256": progress[-1]["sha256"],
        "rows_done": ROWS,
        "complete": True,
        "published": len(moves) + len(deaths),
        "rejected": len(bad_lines),
    }
    # Every chunk committed once: progress only ever moved forward, by at most a chunk.
    done = [int(str(p["rows_done"])) for p in progress]
    assert all(0 < b - a <= CHUNK for a, b in zip([0, *done], done, strict=False))
    # No transaction is left open on the progress topic.
    committed = kafka_admin.end_offsets(register.progress_topic, 1, committed_only=True)
    assert committed == kafka_admin.end_offsets(register.progress_topic, 1, committed_only=False)
