"""`bus catalog list | show | check`: what a user and an auditor see."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from bus.catalog import Catalog
from bus.catalog.population import AddressChanged
from bus.cli import catalog as catalog_cli
from bus.cli.main import app
from tests.unit.test_catalog_compatibility import AddsRequired, MovedV1, RemovesField

runner = CliRunner()


def test_list_shows_every_type_with_versions_field_count_and_domain() -> None:
    result = runner.invoke(app, ["catalog", "list"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows == [
        ["type", "versions", "fields", "domain"],
        ["population.AddressChanged", "1", "6", "population"],
        ["population.PersonDied", "1,", "2", "5", "population"],
        ["vehicles.VehicleOwnershipChanged", "1,", "2", "7", "vehicles"],
    ]


def test_show_prints_header_fields_and_schema() -> None:
    result = runner.invoke(app, ["catalog", "show", "population.AddressChanged"])
    assert result.exit_code == 0, result.output
    text, schema = result.stdout.split("\nJSON Schema:\n")
    lines = text.splitlines()
    assert lines[:5] == [
        "type:           population.AddressChanged",
        "version:        1 (known versions: 1)",
        "dataschema:     urn:govbus:schema:population.AddressChanged:v1",
        "subject field:  subject_id",
        "upcaster:       no",
    ]
    assert AddressChanged.__doc__ is not None
    assert AddressChanged.__doc__ in text
    table = next(i for i, line in enumerate(lines) if line.startswith("field "))
    assert lines[table].split() == ["field", "type", "required", "data", "class", "description"]
    rows = {line.split()[0]: line.split(maxsplit=4) for line in lines[table + 1 :] if line}
    assert list(rows) == list(AddressChanged.field_names())
    assert rows["subject_id"][:4] == ["subject_id", "str", "yes", "identifier"]
    assert rows["effective_date"][:4] == ["effective_date", "date", "yes", "personal"]
    assert rows["new_address"][:4] == ["new_address", "Address", "yes", "personal"]
    assert "registered threat" in rows["disclosure_block"][4]
    assert json.loads(schema) == AddressChanged.model_json_schema()


def test_show_version_and_json_prints_only_the_schema() -> None:
    result = runner.invoke(
        app, ["catalog", "show", "population.PersonDied", "--version", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["$id"] == "urn:govbus:schema:population.PersonDied:v1"
    assert schema["properties"]["cause_of_death_code"]["data_class"] == "special-category"


def test_show_an_unknown_version_gives_the_catalogue_error() -> None:
    result = runner.invoke(app, ["catalog", "show", "population.PersonDied", "--version", "3"])
    assert result.exit_code == 1
    assert "no version 3" in result.stderr


def test_show_an_unknown_type_gives_one_error_line_and_exit_1() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bus.cli.main import main; main()",
            "catalog",
            "show",
            "nope.X",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: unknown event type 'nope.X'; known event types: ")
    assert "population.AddressChanged" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_passes_on_the_default_catalogue() -> None:
    result = runner.invoke(app, ["catalog", "check"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "catalog OK: 3 event types, 5 versions\n"


def test_check_fails_with_a_readable_report(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_cli, "CATALOG", Catalog([MovedV1, RemovesField]))
    result = runner.invoke(app, ["catalog", "check"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "catalog check failed: 1 incompatible change",
        "  test.Moved v1 -> v2: field 'town' was removed",
    ]


def test_check_report_names_a_required_new_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_cli, "CATALOG", Catalog([MovedV1, AddsRequired]))
    result = runner.invoke(app, ["catalog", "check"])
    assert result.exit_code == 1
    assert "test.Moved v1 -> v2: new field 'district' is required" in result.stderr
