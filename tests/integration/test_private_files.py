"""Personal data on disk is readable by its owner only: the running broker's data and logs, the
project's PostgreSQL, the audit store, a back office's database and the state directory, each as
the project's own code creates it, here inside a process whose umask (022) would leave files open."""

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bus.audit.store import open_store
from bus.devenv import broker
from bus.devenv.postgres import ROOT_DATA_AREA, LocalPostgres
from bus.kafka.connection import KafkaConnection
from bus.kafka.settings import KafkaSettings
from consumers.back_offices import REFERENCE_BACK_OFFICES
from consumers.inbox import InboxOutcome
from tests.support.kafka import produce_one, unique_name

OPEN_TO_OTHERS = stat.S_IRWXG | stat.S_IRWXO


@pytest.fixture
def lax_umask() -> Iterator[None]:
    """The umask of a typical login shell, which the project's files must not depend on."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def open_to_others(*roots: Path) -> list[str]:
    """Every file and directory under `roots` (themselves included) that group or world may use."""
    found: list[str] = []
    for root in roots:
        paths = [root]
        # os.walk skips a directory that vanishes meanwhile (the broker deletes topics lazily).
        for directory, subdirectories, files in os.walk(root):
            paths += [Path(directory, name) for name in (*subdirectories, *files)]
        for path in paths:
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:  # a segment deleted meanwhile
                continue
            # A link's or a socket's own mode means nothing: its directory guards it.
            if mode & OPEN_TO_OTHERS and not (stat.S_ISLNK(mode) or stat.S_ISSOCK(mode)):
                found.append(f"{oct(mode & 0o777)} {path}")
    return found


def process_umask(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(line.split()[1] for line in status.splitlines() if line.startswith("Umask:"))


async def test_the_broker_runs_with_umask_077_and_its_data_and_logs_are_private(
    kafka_broker: KafkaConnection,
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
) -> None:
    # A record of personal data written now lands in a segment the broker creates now.
    topic = unique_name("private-files")
    topic_factory(name=topic)
    await produce_one(kafka_broker, topic, b'{"subject_id": "P-1234-5678"}')
    assert (kafka_settings.data_dir / f"{topic}-0").is_dir()
    assert (kafka_settings.log_dir / "stdout.log").exists()
    assert broker.log_file(kafka_settings).exists()
    assert open_to_others(kafka_settings.state_dir) == []
    pid = broker.broker_pid(kafka_settings)
    assert pid is not None
    assert process_umask(pid) == "0077"


def test_the_projects_postgresql_keeps_its_data_and_log_private(postgres_url: str) -> None:
    server = LocalPostgres.default()
    assert open_to_others(server.data_dir) == []
    if server.as_root:  # the data directories of all clones sit in one area: it cannot be listed
        assert stat.S_IMODE(ROOT_DATA_AREA.stat().st_mode) == 0o711
    postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    assert process_umask(postmaster) == "0077"


def test_a_back_office_database_is_private_and_an_open_one_is_tightened(
    tmp_path: Path, lax_umask: None
) -> None:
    office = REFERENCE_BACK_OFFICES[0]
    fresh = office.open_database(tmp_path / "new" / "back-offices" / f"{office.agency_id}.db")
    assert "person_id" in office.columns(fresh.db)
    assert open_to_others(tmp_path / "new") == []
    fresh.close()

    # A database an earlier version created world-readable.
    earlier = tmp_path / "earlier.db"
    sqlite3.connect(earlier).close()
    earlier.chmod(0o644)
    opened = office.open_database(earlier)
    with opened.transaction() as db:  # a write: the -wal and -shm files exist now
        opened.record(db, "muni-1", "e-1", "population.AddressChanged", "tax", InboxOutcome.APPLIED)
    assert {p.name for p in tmp_path.glob("earlier.db*")} >= {"earlier.db", "earlier.db-wal"}
    assert open_to_others(*tmp_path.glob("earlier.db*")) == []
    opened.close()


def test_the_audit_store_is_private(tmp_path: Path, lax_umask: None) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'var' / 'audit' / 'audit.db'}")
    try:
        assert (tmp_path / "var" / "audit" / "audit.db-wal").exists()
        assert open_to_others(tmp_path / "var") == []
    finally:
        store.close()


def bus(*args: str, home: Path) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [sys.executable, "-c", "from bus.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        check=False,
        env={"BUS_HOME": str(home), "PATH": "/usr/bin:/bin"},
    )


def test_the_bus_command_runs_with_umask_077_and_closes_the_state_directory(
    tmp_path: Path, lax_umask: None
) -> None:
    home = tmp_path / "var"
    home.mkdir(mode=0o755)  # as an earlier version left it
    result = bus("audit", "stats", home=home)
    assert result.returncode == 0, result.stderr
    assert (home / "audit" / "audit.db").exists()
    assert open_to_others(home) == []
    # Whatever the command itself creates without naming a mode is private too.
    umask = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys\nfrom bus.cli.main import main\nsys.argv = ['bus',"
            " '--help']\ntry:\n    main()\nexcept SystemExit:\n    print(oct(os.umask(0)))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"BUS_HOME": str(home)},
    )
    assert umask.stdout.strip().splitlines()[-1] == "0o77"
