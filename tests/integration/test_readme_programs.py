"""The README's programs, as a newcomer would copy them: each type-checks under `mypy --strict`
and runs against the real broker (the consumer until SIGTERM, the producer to its end)."""

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
from asyncio.subprocess import PIPE
from collections.abc import Mapping
from pathlib import Path

from bus.catalog.population import AddressChanged
from bus.control.topology import ensure_ingress_topics
from bus.envelope.kafka_binding import verify_record
from bus.kafka.admin import Acl, KafkaAdmin, Operation, Resource
from bus.kafka.connection import KafkaConnection
from bus.kafka.profile import write_profile
from bus.kafka.topics import ingress_topic
from bus.keys import AgencySigningKey, KeyStore
from tests.support.deliveries import back_office_bus, moved_to_munich
from tests.support.kafka import Principals, read_topic

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = re.compile(r"<!-- program: (?P<name>[\w.]+) -->\n```python\n(?P<code>.*?)```", re.S)
PURPOSE = "tax-residence"  # the README consumer's


def readme_programs() -> dict[str, str]:
    return {m["name"]: m["code"] for m in PROGRAM.finditer((ROOT / "README.md").read_text())}


def write_programs(directory: Path) -> dict[str, Path]:
    paths = {}
    for name, code in readme_programs().items():
        paths[name] = directory / name
        paths[name].write_text(code)
    return paths


def mypy_strict(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def environment(**values: str) -> Mapping[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **values}


def test_the_readme_shows_the_producer_and_the_decorated_consumer() -> None:
    programs = readme_programs()
    assert set(programs) == {"publish_move.py", "tax_office.py"}
    assert "@consumer.handler(AddressChanged" in programs["tax_office.py"]


def test_the_readme_programs_type_check_strictly_and_a_misread_event_does_not(
    tmp_path: Path,
) -> None:
    paths = write_programs(tmp_path)
    checked = mypy_strict(*paths.values())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The check can fail: the mistakes the SDK's types are there to catch.
    code = paths["tax_office.py"].read_text()
    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        code.replace("address = event.data.new_address", "address = event.data.new_adress").replace(
            "(event.data.subject_id,", "(event.event_id,"
        )
    )
    refused = mypy_strict(wrong)
    assert refused.returncode == 1
    assert '"AddressChanged" has no attribute "new_adress"' in refused.stdout
    assert '"ReleasedEvent[AddressChanged]" has no attribute "event_id"' in refused.stdout


async def test_the_readme_consumer_applies_its_deliveries_and_stops_on_sigterm(
    principals: Principals,
    kafka_admin: KafkaAdmin,
    kafka_broker: KafkaConnection,
    tmp_path: Path,
) -> None:
    bus = back_office_bus(principals, kafka_admin, kafka_broker, purposes=(PURPOSE,))
    moves = [moved_to_munich() for _ in range(3)]
    await bus.write(bus.deliveries(moves))
    profile = tmp_path / "profile.toml"
    write_profile(profile, bus.connection, tmp_path / "password")
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "muni-muc.pub.pem").write_bytes(bus.producer_key.public_pem())
    database = tmp_path / "tax-office.db"
    program = write_programs(tmp_path)["tax_office.py"]
    env = environment(
        AGENCY=bus.consumer, BUS_PROFILE=str(profile), PUBLIC_KEYS=str(keys), DATABASE=str(database)
    )
    log = tmp_path / "consumer.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(program), cwd=tmp_path, env=env, stdout=output, stderr=output
        )
    try:
        for _ in range(600):
            if len(taxpayers(database)) == len(moves) or process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0, log.read_text()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    street = moves[0].new_address.street
    assert taxpayers(database) == {m.subject_id: street for m in moves}


def taxpayers(database: Path) -> dict[str, str]:
    try:
        with sqlite3.connect(database) as db:
            return dict(db.execute("SELECT person_id, street FROM taxpayers").fetchall())
    except sqlite3.OperationalError:  # not created yet
        return {}


async def test_the_readme_producer_publishes_a_signed_move(
    principals: Principals,
    kafka_admin: KafkaAdmin,
    kafka_broker: KafkaConnection,
    tmp_path: Path,
) -> None:
    agency = principals.create("muni-readme")
    topic = ingress_topic(AddressChanged.event_type)
    ensure_ingress_topics(kafka_admin)
    kafka_admin.create_acls(
        [Acl(f"User:{agency.username}", Resource.TOPIC, topic, Operation.WRITE)]
    )
    key = AgencySigningKey.generate(agency.username)
    key_file = tmp_path / "agency.key.pem"
    key_file.write_bytes(key.private_pem())
    profile = tmp_path / "profile.toml"
    write_profile(profile, agency, tmp_path / "password")
    program = write_programs(tmp_path)["publish_move.py"]
    env = environment(AGENCY=agency.username, BUS_PROFILE=str(profile), KEY_FILE=str(key_file))
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(program), cwd=tmp_path, env=env, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    event_id = out.decode().strip().removeprefix("published ")
    # The bus's own ingress topic: other tests leave hostile records there (no or undecodable
    # headers), so the program's record is found by its raw id header.
    wanted = ("ce_id", event_id.encode())
    [record] = [r for r in await read_topic(kafka_broker, topic) if wanted in list(r.headers)]
    keys = KeyStore.from_pems([(agency.username, key.public_pem())])
    verified = verify_record(record.value, list(record.headers), keys)
    assert verified.attributes.source == agency.username
    assert verified.fields["new_address"].street == "Marienplatz"
