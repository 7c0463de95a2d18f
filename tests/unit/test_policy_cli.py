"""`bus policy check | explain | diff`: what an administrator and an auditor see."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bus.cli.main import app
from bus.errors import BusError
from bus.policy.explain_input import load_event_file
from tests.unit.test_policy_reference import REFERENCE_DIR, SNAPSHOT

runner = CliRunner()
REF = str(REFERENCE_DIR)
EVENT = REFERENCE_DIR / "examples" / "address-changed-munich.json"
AT = "2026-06-01T00:00:00Z"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "edited"
    shutil.copytree(REFERENCE_DIR, target)
    return target


def _explain(consumer: str, purpose: str, *extra: str) -> list[str]:
    return [
        "policy",
        "explain",
        REF,
        "--event",
        str(EVENT),
        "--consumer",
        consumer,
        "--purpose",
        purpose,
        "--at",
        AT,
        *extra,
    ]


def test_check_ok() -> None:
    result = runner.invoke(app, ["policy", "check", REF])
    assert result.exit_code == 0, result.output
    *findings, summary = result.stdout.splitlines()
    # Only the deliberately expired pilot grant warns (the clock is past its end), and the
    # approvers the reference leaves for each deployment to enrol.
    assert len(findings) == 2
    assert findings[0].endswith(
        "grants.yaml: grants[6].valid_until: warning: grant pilot-tax-by-address-2025: "
        "expired on 2026-01-01T00:00:00+00:00"
    )
    assert "approvals.yaml: approvers.public_key: warning: no public key yet for" in findings[1]
    assert (
        summary == f"policy set OK: 15 agencies, 16 grants, snapshot {SNAPSHOT.hash} (2 warnings)"
    )


def test_check_fails_on_an_error_finding(copy: Path) -> None:
    grants = copy / "grants.yaml"
    text = grants.read_text(encoding="utf-8")
    grants.write_text(
        text.replace(
            "fields: [subject_id, date_of_death]", "fields: [subject_id, cause_of_death_code]"
        ),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["policy", "check", str(copy)])
    assert result.exit_code == 1
    assert "grant benefits-de-death: releases special-category field cause_of_death_code" in (
        result.stdout
    )
    assert "policy set has 2 errors, 2 warnings; nothing compiled" in result.stderr


def test_check_of_an_unloadable_set_is_one_error_line(copy: Path) -> None:
    grants = copy / "grants.yaml"
    grants.write_text(
        grants.read_text(encoding="utf-8").replace(
            "territorial_rule: nationwide", "territorial_rule: everywhere"
        ),
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bus.cli.main import main; main()",
            "policy",
            "check",
            str(copy),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {grants}:")
    assert ": grants.10.territorial_rule: Input should be " in result.stderr
    assert "Traceback" not in result.stderr


def test_explain_permit_text() -> None:
    result = runner.invoke(app, _explain("tax-by", "tax-residence"))
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert lines["outcome"].strip() == "PERMIT"
    assert lines["reasons"].strip() == "GRANTED"
    assert lines["grant"].strip() == "tax-by-address"
    assert lines["released"].strip() == "effective_date, moved_abroad, new_address, subject_id"
    assert lines["legal basis"].strip() == "§ 36 Abs. 1 BMG i.V.m. § 139b Abs. 6 AO"
    assert lines["explanation"].strip().startswith("PERMIT: grant tax-by-address releases")
    assert lines["producer"].strip() == (
        "PERMIT: muni-09362000 is the authentic source of population.AddressChanged "
        "for subjects in 09362000."
    )
    assert lines["snapshot"].strip() == SNAPSHOT.hash


def test_explain_permit_json() -> None:
    result = runner.invoke(app, _explain("tax-by", "tax-residence", "--json"))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["outcome"] == "PERMIT"
    assert document["grant_id"] == "tax-by-address"
    assert document["snapshot_hash"] == SNAPSHOT.hash
    assert document["at"] == "2026-06-01T00:00:00+00:00"
    assert document["producer_check"] == {
        "producer": "muni-09362000",
        "territory": "09362000",
        "outcome": "PERMIT",
        "reasons": ["AUTHORITATIVE_SOURCE"],
        "explanation": "PERMIT: muni-09362000 is the authentic source of "
        "population.AddressChanged for subjects in 09362000.",
    }


def test_explain_deny_for_munichs_electoral_office_on_a_move_out_of_munich() -> None:
    result = runner.invoke(app, _explain("elect-09162000", "electoral-register"))
    assert result.exit_code == 0, result.output
    assert "outcome:     DENY" in result.stdout
    assert "reasons:     OUT_OF_JURISDICTION" in result.stdout
    assert "released:    -" in result.stdout
    as_json = runner.invoke(app, _explain("elect-09162000", "electoral-register", "--json"))
    document = json.loads(as_json.stdout)
    assert document["outcome"] == "DENY"
    assert document["reasons"] == ["OUT_OF_JURISDICTION"]
    assert document["grant_id"] == "elect-09162000-address"
    assert document["released_fields"] == []


def test_explain_with_another_producer_fails_the_producer_check() -> None:
    result = runner.invoke(
        app, _explain("tax-by", "tax-residence", "--producer", "muni-09162000", "--json")
    )
    check = json.loads(result.stdout)["producer_check"]
    assert check["outcome"] == "DENY"
    assert check["reasons"] == ["PRODUCER_NOT_AUTHORITATIVE"]


def test_explain_refuses_a_time_without_zone() -> None:
    args = _explain("tax-by", "tax-residence")
    args[args.index(AT)] = "2026-06-01T00:00:00"
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "has no time zone" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", "expected an object"),
        ('{"type": "population.AddressChanged", "data": {}}', "producer: expected"),
        ('{"type": "x.Y", "producer": "p", "data": {}}', "unknown event type 'x.Y'"),
        (
            '{"type": "population.AddressChanged", "version": 1, "producer": "p", '
            '"data": {"subject_id": "!"}}',
            "data.subject_id: String should match pattern",
        ),
    ],
)
def test_event_file_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "event.json"
    path.write_text(content, encoding="utf-8")
    # EventFileError, or the catalogue's own error for an unknown type: both are BusErrors.
    with pytest.raises(BusError, match=message):
        load_event_file(path)


def test_the_example_event_file_loads() -> None:
    loaded = load_event_file(EVENT)
    assert loaded.producer == "muni-09362000"
    assert loaded.event.subject() == "P-1001-2002"


def test_diff_between_the_reference_and_an_edited_copy(copy: Path) -> None:
    grants = copy / "grants.yaml"
    text = grants.read_text(encoding="utf-8")
    grants.write_text(
        text.replace(
            "fields: [subject_id, new_address]\n    territorial_rule: either_address",
            "fields: [subject_id]\n    territorial_rule: either_address",
        ),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["policy", "diff", REF, str(copy)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "grants.yaml: kba-de-address changed (fields)",
        "kba-de × population.AddressChanged × vehicle-owner-address (kba-de-address): "
        "loses new_address",
        "approvals needed (under OLD's rules, by OLD's approvers):",
        "  2 × role governance-board: every change",  # a narrowing: no consent, no DPO
    ]
    as_json = json.loads(runner.invoke(app, ["policy", "diff", REF, str(copy), "--json"]).stdout)
    assert [c["kind"] for c in as_json] == ["document", "access"]
    assert as_json[1]["lost_fields"] == ["new_address"]
    same = runner.invoke(app, ["policy", "diff", REF, REF])
    assert same.stdout == "no changes\n"


def test_export_cedar_writes_policies_entities_and_schema(tmp_path: Path) -> None:
    import cedarpy

    result = CliRunner().invoke(
        app, ["policy", "export", "policies/reference", "--cedar", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    policies = (tmp_path / "policies.cedar").read_text()
    assert policies.count("permit (") >= 16  # one per grant and event type
    assert cedarpy.format_policies(policies)  # parses as Cedar
