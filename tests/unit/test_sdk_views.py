"""`bus sdk views`: per-grant Protocols with exactly the released fields, so that mypy rejects a
handler reading a withheld field, and accepts one reading the released ones."""

import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from bus.cli.main import app
from bus.contracts.channels import consumer_channels
from bus.contracts.views import view_name, views_module
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import compile_snapshot

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "policies" / "reference"
SNAPSHOT = compile_snapshot(load_policy_set(REFERENCE))
CONSUMERS = ("tax-by", "benefits-de", "kba-de", "elect-09162000")

HANDLER = """
import sqlite3
from pathlib import Path

from bus.catalog.population import AddressChanged
from bus.keys import KeyStore
from bus.kafka.connection import KafkaConnection
from consumers import Consumer, ReleasedEvent, SqliteInbox
from views import AddressChangedForTaxResidence

connection = KafkaConnection("localhost:9092", "tax-by", "")
consumer = Consumer.from_profile(connection, KeyStore([]), SqliteInbox(Path("tax.db")))


@consumer.handler(AddressChanged, purpose="tax-residence")
async def on_move(event: ReleasedEvent[AddressChangedForTaxResidence], db: sqlite3.Connection) -> None:
    street: str = event.data.new_address.street
    db.execute("SELECT ?, ?", (event.data.subject_id, street))
"""


def test_each_view_holds_exactly_the_fields_every_grant_of_its_channel_releases() -> None:
    for consumer in CONSUMERS:
        channels = consumer_channels(SNAPSHOT, consumer, time.time())
        namespace: dict[str, object] = {}
        exec(compile(views_module(channels, SNAPSHOT.hash), consumer, "exec"), namespace)  # noqa: S102 - our own output
        for channel in channels:
            for message in channel.messages:
                view = namespace[view_name(channel, message)]
                members = {n for n in vars(view) if isinstance(vars(view)[n], property)}
                assert members == set(message.always), (consumer, view_name(channel, message))
                withheld = set(message.event_class.model_fields) - set(message.released)
                assert not members & withheld


def test_mypy_accepts_released_fields_and_rejects_a_withheld_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "sdk",
            "views",
            "--consumer",
            "tax-by",
            "--policy",
            str(REFERENCE),
            "--out",
            str(tmp_path / "views.py"),
        ],
    )
    assert result.exit_code == 0, result.output
    (tmp_path / "handler.py").write_text(HANDLER)
    assert mypy(tmp_path, "handler.py").returncode == 0, mypy(tmp_path, "handler.py").stdout
    (tmp_path / "curious.py").write_text(
        HANDLER.replace("event.data.subject_id,", "event.data.previous_address,")
    )
    refused = mypy(tmp_path, "curious.py")
    assert refused.returncode == 1
    assert '"AddressChangedForTaxResidence" has no attribute "previous_address"' in refused.stdout
    # A view registered for another event type than it describes: refused too.
    (tmp_path / "mixed.py").write_text(
        HANDLER.replace(
            "population import AddressChanged\n", "population import PersonDied\n"
        ).replace("@consumer.handler(AddressChanged", "@consumer.handler(PersonDied")
    )
    mixed = mypy(tmp_path, "mixed.py")
    assert mixed.returncode == 1
    assert "[arg-type]" in mixed.stdout, mixed.stdout


def test_a_consumer_without_grants_is_refused_with_its_reason() -> None:
    result = CliRunner().invoke(
        app, ["sdk", "views", "--consumer", "muni-09162000", "--policy", str(REFERENCE)]
    )
    assert result.exit_code == 1
    assert "holds no grant" in result.output


def mypy(directory: Path, file: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", file],
        cwd=directory,
        env={
            "PYTHONPATH": f"{ROOT}:{directory}",
            "PATH": "/usr/bin:/bin",
            "MYPY_CACHE_DIR": str(ROOT / ".mypy_cache"),
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
