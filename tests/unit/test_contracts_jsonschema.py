"""`bus contracts jsonschema`: one valid draft 2020-12 schema per event type and version, which
accepts the catalogue's own events and carries each field's data class."""

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from bus.catalog import CATALOG, Event
from bus.cli.main import app
from bus.contracts.event_schemas import DRAFT_2020_12, event_schema, event_schemas
from tests.support.events import address_changed


@pytest.mark.parametrize("event_class", list(CATALOG), ids=lambda c: c.dataschema())
def test_each_version_has_a_valid_schema_naming_itself(event_class: type[Event]) -> None:
    schema = event_schema(event_class)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == DRAFT_2020_12
    assert schema["$id"] == event_class.dataschema()
    assert schema["x-event-version"] == event_class.event_version
    assert str(event_class.event_version) in schema["title"]
    classes = {name: field["data_class"] for name, field in schema["properties"].items()}
    assert classes == {name: c.value for name, c in event_class.data_classes().items()}


def test_the_schema_accepts_an_event_and_refuses_a_withheld_shape() -> None:
    event = address_changed()
    validator = Draft202012Validator(event_schema(type(event)))
    values = event.field_values_json()
    validator.validate(values)
    assert list(validator.iter_errors({**values, "extra": 1}))
    assert list(validator.iter_errors({k: v for k, v in values.items() if k != "subject_id"}))


def test_the_command_writes_one_file_per_version(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["contracts", "jsonschema", "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    written = {p.name: json.loads(p.read_text()) for p in (tmp_path / "s").iterdir()}
    assert written == event_schemas()
    assert len(written) == len(CATALOG)
