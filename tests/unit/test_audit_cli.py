"""`bus audit query|show|stats|report|verify|token` against a real SQLite audit store."""

import json
import socket
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bus.audit.access import TokenRefusedError, TokenRegistry, default_tokens_file
from bus.audit.audit_key import (
    AuditKeyFiles,
    default_pinned_key,
    ensure_audit_key,
    pin_audit_key,
)
from bus.audit.store import open_store
from bus.audit.store.audit_store import Checkpointing
from bus.cli.main import app
from bus.errors import BusError
from tests.support.audit_records import audit_document, person, source_records

RECORDS = 300


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BUS_HOME", str(tmp_path))
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "pseudonym.key").write_bytes(b"k" * 32)  # tests' PSEUDONYMS key
    url = f"sqlite:///{tmp_path / 'audit' / 'audit.db'}"  # as var/audit: the pin is outside
    store = open_store(url)
    checkpointing = Checkpointing(ensure_audit_key(AuditKeyFiles.default()), every_records=100)
    pin_audit_key(checkpointing.key, default_pinned_key(), AuditKeyFiles.default())
    store.append(source_records(RECORDS, people=30), datetime.now(UTC), checkpointing)
    store.close()
    return url


def bus(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    # As `bus` (bus.cli.main.main) reports them: the bus's own errors as one line.
    error = f"error: {result.exception}" if isinstance(result.exception, BusError) else ""
    return result.exit_code, result.output + error


def test_query_prints_a_table_and_json_with_a_cursor(store_url: str) -> None:
    code, table = bus(
        "audit", "query", "--store", store_url, "--consumer", "tax-by", "--limit", "5"
    )
    assert code == 0, table
    assert "5 decision(s)" in table
    assert "more: --cursor" in table
    code, out = bus(
        "audit", "query", "--store", store_url, "--consumer", "tax-by", "--json", "--limit", "1000"
    )
    page = json.loads(out)
    assert {d["consumer"] for d in page["items"]} == {"tax-by"}
    assert len(page["items"]) == sum(
        audit_document(i)["consumer"] == "tax-by" for i in range(RECORDS)
    )


def test_a_bad_filter_names_the_option(store_url: str) -> None:
    code, out = bus("audit", "query", "--store", store_url, "--outcome", "MAYBE")
    assert code == 2
    assert "--outcome" in out


def test_show_explains_one_decision_and_refuses_an_unknown_one(store_url: str) -> None:
    code, out = bus("audit", "show", "7", "--store", store_url, "--json")
    document = json.loads(out)
    assert (code, document["decision"]["id"]) == (0, 7)
    assert document["replay"]["status"] == "NOT_REPLAYABLE"
    assert bus("audit", "show", "99999", "--store", store_url)[0] == 1


def test_stats_add_up_to_every_decision(store_url: str) -> None:
    code, out = bus("audit", "stats", "--store", store_url, "--json")
    counts = json.loads(out)["counts"]
    assert code == 0
    assert sum(c["count"] for c in counts) == RECORDS  # each test decision has at most one reason


def test_report_as_json_and_html(store_url: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    code, out = bus(
        "audit",
        "report",
        "--subject",
        person(4),
        "--store",
        store_url,
        "--json",
        "--html",
        str(page),
    )
    assert code == 0, out
    report = json.loads(out[out.index("{") :])
    expected = {
        audit_document(i, people=30)["consumer"]
        for i in range(RECORDS)
        if i % 30 == 4 and audit_document(i, people=30)["outcome"] == "PERMIT"
    }
    assert set(report["agencies_that_received_data"]) == expected
    assert "Agencies that received data" in page.read_text()


def test_verify_exits_1_naming_the_tampered_record(store_url: str, tmp_path: Path) -> None:
    # --offline: no broker in unit tests (the witness: tests/integration/test_audit_witness.py).
    code, out = bus("audit", "verify", "--store", store_url, "--offline")
    assert (code, out.strip().splitlines()[-1]) == (0, "intact")
    assert "UNWITNESSED (--offline)" in out
    with sqlite3.connect(tmp_path / "audit" / "audit.db") as db:
        db.execute("DELETE FROM decisions WHERE seq = 150")
    code, out = bus("audit", "verify", "--store", store_url, "--json", "--offline")
    finding = json.loads(out)["finding"]
    assert (code, finding["kind"], finding["seq"]) == (1, "DELETED", 150)


def test_tokens_are_shown_once_and_listed_without_the_secret(store_url: str) -> None:
    code, out = bus(
        "audit", "token", "issue", "carol", "--role", "agency-dpo", "--agency", "kba-de"
    )
    assert code == 0
    token = out.splitlines()[0]
    code, listing = bus("audit", "token", "list")
    assert "carol\tagency-dpo (kba-de)" in listing
    assert token not in listing
    code, out = bus("audit", "token", "issue", "dave", "--role", "agency-dpo")
    assert code == 1
    assert "needs --agency" in out


def test_index_refuses_a_taken_metrics_port_before_connecting(store_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out = bus("audit", "index", "--store", store_url, "--metrics-port", str(port))
    assert code == 1
    assert f"--metrics-port {port}: cannot serve metrics on 127.0.0.1:{port}" in out
    assert "choose a free port, or 0" in out


def test_a_token_expires_as_issued_and_is_revoked_at_once(store_url: str) -> None:
    code, out = bus("audit", "token", "issue", "erin", "--role", "auditor", "--lifetime-days", "30")
    token = out.splitlines()[0]
    assert code == 0
    assert "expires in 30 days" in out
    registry = TokenRegistry(default_tokens_file())
    issued = next(h for h in registry.holders() if h.principal.name == "erin")
    assert issued.expires_at - issued.issued_at == timedelta(days=30)
    assert registry.authenticate(token, datetime.now(UTC)).name == "erin"
    assert bus("audit", "token", "revoke", "erin") == (0, "revoked: erin\n")
    with pytest.raises(TokenRefusedError, match="token 'erin' was revoked at"):
        registry.authenticate(token, datetime.now(UTC))
    code, listing = bus("audit", "token", "list")
    assert "erin\tauditor\tissued " in listing
    assert "\ttoken 'erin' was revoked at " in listing
    code, out = bus(
        "audit", "token", "issue", "frank", "--role", "auditor", "--lifetime-days", "731"
    )
    assert code == 2
    assert "--lifetime-days" in out


def test_a_subject_can_come_from_stdin_kept_out_of_history_and_ps(store_url: str) -> None:
    given = bus("audit", "report", "--subject", person(4), "--store", store_url, "--json")
    result = CliRunner().invoke(
        app,
        ["audit", "report", "--subject", "-", "--store", store_url, "--json"],
        input=f"{person(4)}\n",
    )
    assert result.exit_code == 0
    assert _report(result.output) == _report(given[1])
    empty = CliRunner().invoke(
        app, ["audit", "report", "--subject", "-", "--store", store_url], input="\n"
    )
    assert empty.exit_code == 2


def _report(out: str) -> dict[str, Any]:
    """The JSON report in a command's output, without the time it was made."""
    document: dict[str, Any] = json.loads(out[out.index("{") :])
    return document | {"generated_at": None}
