"""`bus contracts asyncapi`: each consumer's AsyncAPI 3.0.0 document is valid against the official
schema, describes exactly what the policy engine releases to it, and nothing it withholds."""

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bus.catalog import CATALOG
from bus.cli.main import app
from bus.contracts.asyncapi import asyncapi_document
from bus.contracts.errors import ContractError
from bus.contracts.validation import asyncapi_problems, check_asyncapi
from bus.kafka.topics import delivery_topic
from bus.policy.engine import decide
from bus.policy.facts import EventFacts, Subscription
from bus.policy.snapshot import compile_snapshot
from tests.support.policy_sets import REFERENCE, agency, grant, policy_set, purpose

SNAPSHOT = compile_snapshot(REFERENCE)
NOW = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
CONSUMERS = sorted({g.consumer for g in REFERENCE.grants.grants})
PRODUCERS = sorted(set(SNAPSHOT.agencies) - set(CONSUMERS))
DOCUMENTS = {c: asyncapi_document(SNAPSHOT, c, NOW) for c in CONSUMERS}
runner = CliRunner()


def messages(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (channel_id, message_id, message)
        for channel_id, channel in document["channels"].items()
        for message_id, message in channel["messages"].items()
    ]


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_each_consumers_document_is_valid_against_the_official_schema(consumer: str) -> None:
    assert asyncapi_problems(DOCUMENTS[consumer]) == []


def _break(document: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    broken = copy.deepcopy(document)
    *parents, last = path.split("/")
    node: Any = broken
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[last] = value
    return broken


CHANNEL = "channels/tax-residence"
MESSAGE = f"{CHANNEL}/messages/population.AddressChanged.v1"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("asyncapi", "2.6.0"),
        ("info/version", 3),
        (f"{CHANNEL}/topic", "bus.delivery.tax-by.tax-residence"),  # not a channel field
        (f"{MESSAGE}/payload", "released fields"),
        ("components/securitySchemes/scram/type", "scramSha1024"),
        ("operations/receive-tax-residence/action", "consume"),
        (f"{CHANNEL}/servers/0/$ref", "#/servers/nowhere"),  # valid shape, dangling
    ],
)
def test_the_validator_refuses_a_broken_document(path: str, value: object) -> None:
    broken = _break(DOCUMENTS["tax-by"], path, value)
    assert asyncapi_problems(broken)
    with pytest.raises(ContractError, match="invalid"):
        check_asyncapi(broken)


def _facts(event_type: str, fields: tuple[str, ...], where: str) -> EventFacts:
    # Every location of the event in the consumer's own jurisdiction: the engine's territorial
    # check passes, so the decision turns on the grant and the purpose alone.
    event_class = CATALOG.latest(event_type)
    locations: dict[str, str | None] = dict.fromkeys(event_class.locations, where)
    return EventFacts(event_type, "any-producer", frozenset(fields), locations, False)


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_each_payload_holds_exactly_the_fields_the_engine_releases(consumer: str) -> None:
    jurisdiction = SNAPSHOT.agencies[consumer].jurisdiction
    for _, _, message in messages(DOCUMENTS[consumer]):
        event_type = message["name"]
        version = int(message["title"].rsplit(" v", 1)[1])
        fields = CATALOG.get(event_type, version).field_names()
        purpose = message["headers"]["properties"]["bus_purpose"]["const"]
        released: set[str] = set()
        for grant_id in message["x-govbus-grants"]:
            (compiled,) = [g for g in SNAPSHOT.grants[(consumer, event_type)] if g.id == grant_id]
            at = max(NOW, compiled.valid_from)  # a grant that becomes valid later: decide then
            decision = decide(
                SNAPSHOT,
                _facts(event_type, fields, jurisdiction),
                Subscription(consumer, event_type, purpose),
                at,
                has_interest=True,
            )
            assert decision.permitted, decision.explanation
            released |= set(decision.released_fields)
        assert set(message["payload"]["properties"]) == released


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_a_field_withheld_from_a_consumer_never_appears_in_its_document(consumer: str) -> None:
    document = DOCUMENTS[consumer]
    text = json.dumps(document)
    for _, _, message in messages(document):
        version = int(message["title"].rsplit(" v", 1)[1])
        fields = CATALOG.get(message["name"], version).field_names()
        withheld = set(fields) - set(message["payload"]["properties"])
        released_anywhere = {
            name for _, _, m in messages(document) for name in m["payload"]["properties"]
        }
        for name in withheld - released_anywhere:
            assert f'"{name}"' not in text, (consumer, name)
    # Special-category data is released to no one in the reference set.
    assert "cause_of_death_code" not in text


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_channels_are_the_consumers_own_delivery_topics_for_its_purposes(consumer: str) -> None:
    document = DOCUMENTS[consumer]
    granted = {g.purpose for g in REFERENCE.grants.grants if g.consumer == consumer}
    assert set(document["channels"]) <= granted
    for code, channel in document["channels"].items():
        assert channel["address"] == delivery_topic(consumer, code)
        legal_basis = SNAPSHOT.purposes[code].legal_basis
        assert channel["x-govbus-purpose"]["legal_basis"] == legal_basis
        assert legal_basis in channel["description"]
        assert document["operations"][f"receive-{code}"]["x-govbus-legal-basis"] == legal_basis


TAX = purpose("tax", "taxation")
VEHICLES = purpose("vehicles", "taxation")
NO_GRANT_SET = policy_set(
    agencies=(agency("tax-by", "09", "taxation"), agency("police-by", "09", "policing")),
    purposes=(TAX, VEHICLES, purpose("security", "policing")),
    grants=(
        grant("g-tax", "tax-by", "tax", fields=("subject_id", "new_address")),
        # Expired: nothing to subscribe with any more.
        grant(
            "g-old",
            "tax-by",
            "vehicles",
            valid_from=datetime(2024, 1, 1, tzinfo=UTC),
            valid_until=datetime(2025, 1, 1, tzinfo=UTC),
        ),
        # The police hold a grant, but not the competence its purpose needs.
        grant("g-police", "police-by", "tax"),
    ),
)


def test_a_consumer_gets_no_channel_for_a_purpose_it_cannot_subscribe_for() -> None:
    snapshot = compile_snapshot(NO_GRANT_SET)
    document = asyncapi_document(snapshot, "tax-by", NOW)
    assert list(document["channels"]) == ["tax"]
    assert "vehicles" not in json.dumps(document)
    with pytest.raises(ContractError, match="NOT_COMPETENT"):
        asyncapi_document(snapshot, "police-by", NOW)


@pytest.mark.parametrize("producer", PRODUCERS)
def test_an_agency_without_grants_gets_an_error(producer: str) -> None:
    with pytest.raises(ContractError, match="holds no grant"):
        asyncapi_document(SNAPSHOT, producer, NOW)


REFERENCE_DIR = str(Path("policies/reference").resolve())


@pytest.mark.parametrize(
    ("consumer", "message"),
    [("muni-09162000", "holds no grant"), ("nobody", "not an agency of the policy set")],
)
def test_the_command_refuses_with_a_clear_line_and_exit_1(consumer: str, message: str) -> None:
    result = runner.invoke(
        app, ["contracts", "asyncapi", "--consumer", consumer, "--policy", REFERENCE_DIR]
    )
    assert result.exit_code == 1
    assert message in result.output


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_the_command_writes_yaml_or_json_by_extension(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"tax-he{suffix}"
    result = runner.invoke(
        app,
        [
            "contracts",
            "asyncapi",
            "--consumer",
            "tax-he",
            "--policy",
            REFERENCE_DIR,
            "--bootstrap",
            "bus.example:9093",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    document = yaml.safe_load(text) if suffix == ".yaml" else json.loads(text)
    assert suffix == ".json" or not text.lstrip().startswith("{")
    assert asyncapi_problems(document) == []
    assert document["servers"]["broker-1"]["host"] == "bus.example:9093"
    assert document["components"]["securitySchemes"]["scram"]["type"] == "scramSha512"
