"""Every parameter of the auditor API and every option of `bus audit` fed hostile values, on a
real store (SQLite and PostgreSQL): each is answered with a 4xx and a message (the API) or exit
1/2 and a message (the CLI), never a 500 or a traceback; and none reaches the database as SQL."""

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from bus.cli.failures import UNEXPECTED
from bus.cli.main import app as bus_app
from bus.errors import BusError
from tests.support.audit_api import Api, audit_api
from tests.support.audit_records import audit_document
from tests.support.audit_stores import RawSql

HUGE = "99999999999999999999999999"
# Text as a hostile caller sends it: sizes, numbers out of range, NUL and control characters,
# SQL and LIKE metacharacters, times without a zone or as Unix times, other types spelt as text.
HOSTILE = [
    HUGE,
    str(2**63),
    str(-(2**63) - 1),
    "-1",
    "0",
    "NaN",
    "inf",
    "1e309",
    "",
    " ",
    "x" * 10_000,
    "a\x00b",
    "\x00",
    "a\nb",
    "' OR '1'='1",
    "1; DROP TABLE decisions; --",
    "%",
    "_",
    "\\",
    "2026-11-01T00:00:00",
    "2026-11-01",
    "1700000000",
    "2026-02-30T00:00:00Z",
    "true",
    "[]",
    "{}",
    "null",
    "ünïcödé",
    "\u202e",
    "T" * 300,
]
# Non-UTF-8 cannot pass through a str: in a URL it is percent-encoded bytes.
RAW_URL_VALUES = ["%FF%FE", "%C3%28", "%00", "%ED%A0%80"]
LISTING = [
    "consumer",
    "producer",
    "event_type",
    "purpose",
    "outcome",
    "reason",
    "since",
    "until",
    "event_id",
    "limit",
    "cursor",
]
WRONG_TYPES: list[Any] = [None, 1, -1, 2**70, 1.5, True, [], {}, ["a"], {"a": 1}]


@dataclass(frozen=True)
class Place:
    method: str
    path: str
    parameter: str


PLACES = [
    *(Place("GET", "/decisions", p) for p in LISTING),
    *(Place("GET", "/stats", p) for p in [*LISTING[:9], "bucket"]),
    Place("GET", "/integrity", "fresh"),
]
BODIES = [
    *(Place("POST", "/decisions/search", p) for p in [*LISTING, "subject"]),
    Place("POST", "/subject-report", "subject"),
    Place("POST", "/subject-report.html", "subject"),
]


@pytest.fixture
def api(tmp_path: Path, store_location: tuple[str, RawSql]) -> Iterator[Api]:
    url, _ = store_location
    with audit_api(tmp_path, [audit_document(i, people=7) for i in range(40)], url) as running:
        yield running


def _well_refused_or_answered(response: Any, where: str) -> None:
    """A 4xx naming the problem, or an ordinary answer (the value happened to be valid)."""
    assert response.status_code < 500, (where, response.status_code, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body["error"], str), (where, body)
        assert body["error"], (where, body)


def test_every_query_parameter_refuses_hostile_values(api: Api) -> None:
    for place in PLACES:
        for value in HOSTILE:
            response = api.client.request(
                place.method, place.path, params={place.parameter: value}, headers=api.auditor
            )
            _well_refused_or_answered(response, f"{place.path}?{place.parameter}={value[:20]!r}")
            if response.status_code == 200 and place.path == "/decisions":
                # Text that passed validation matched as text, never as SQL or a pattern.
                assert response.json()["items"] == [], (place, value)
        for raw in RAW_URL_VALUES:
            response = api.client.get(f"{place.path}?{place.parameter}={raw}", headers=api.auditor)
            _well_refused_or_answered(response, f"{place.path}?{place.parameter}={raw}")


def test_every_body_field_refuses_hostile_values_and_wrong_types(api: Api) -> None:
    for place in BODIES:
        for value in [*HOSTILE, *WRONG_TYPES]:
            response = api.client.post(
                place.path, json={place.parameter: value}, headers=api.auditor
            )
            _well_refused_or_answered(response, f"{place.path} {place.parameter}={value!r:.30}")
    for path in {p.path for p in BODIES}:
        for content in (
            b"",
            b"{",
            b"\xff\xfe",
            b"[]",
            b"null",
            b'{"subject": "a"' * 1000,
            b"[" * 100_000,
            b'{"subject": "a"}' + b" " * 100_000,
            json.dumps({"subject": "a", "extra": 1}).encode(),
        ):
            response = api.client.post(path, content=content, headers=api.auditor)
            _well_refused_or_answered(response, f"{path} body {content[:20]!r}")


def test_hostile_decision_ids_and_paths(api: Api) -> None:
    paths = [quote(v, safe="") for v in [*HOSTILE, "1.0", "0x10", "1 ", "1/2"]]
    for value in [*paths, *RAW_URL_VALUES, "1/2"]:
        response = api.client.get(f"/decisions/{value}", headers=api.auditor)
        _well_refused_or_answered(response, f"/decisions/{value[:20]!r}")
    huge = api.client.get(f"/decisions/{HUGE}", headers=api.auditor)
    assert huge.status_code == 422
    assert huge.json()["problems"][0]["parameter"] == "decision_id"
    assert api.client.get(f"/decisions/{2**63 - 1}", headers=api.auditor).status_code == 404


def test_hostile_authorization_headers(api: Api) -> None:
    for header in (
        "Bearer",
        "Bearer ",
        "bearer " + "x" * 100_000,
        "Bearer a\tb",
        "Basic x",
        "Bearer ' OR 1=1 --",
        "Bearer \x7f",
        "Bearer %00",
    ):
        response = api.client.get("/decisions", headers={"Authorization": header})
        assert response.status_code == 401, header[:30]
        assert response.json()["error"]


def test_times_are_rfc3339_with_a_zone_and_nothing_else(api: Api) -> None:
    for value in ("-1", "1700000000", "2026-11-01T00:00:00", "2026-11-01", "now", "1e3"):
        response = api.client.get("/decisions", params={"since": value}, headers=api.auditor)
        assert response.status_code == 422, value
        [problem] = response.json()["problems"]
        assert problem["parameter"] == "since"
        assert "RFC 3339 with a time zone" in problem["message"]
    for value in ("2026-11-01T00:00:00Z", "2026-11-01T01:00:00+01:00", "2026-11-01t00:00:00.5z"):
        response = api.client.get("/decisions", params={"since": value}, headers=api.auditor)
        assert response.status_code == 200, (value, response.text)


# --- the CLI ---

# The filters `bus audit query` and `bus audit stats` share.
CLI_FILTERS = [
    "--consumer",
    "--producer",
    "--event-type",
    "--purpose",
    "--outcome",
    "--reason",
    "--since",
    "--until",
]
CLI_OPTIONS: dict[tuple[str, ...], list[str]] = {
    ("audit", "query"): [*CLI_FILTERS, "--subject", "--event-id", "--limit", "--cursor"],
    ("audit", "stats"): ["--bucket", *CLI_FILTERS],
    ("audit", "report"): ["--subject", "--html"],
    ("audit", "token", "issue"): ["--role", "--agency", "--lifetime-days"],
}
NON_UTF8 = os.fsdecode(b"\xff\xfe")  # what a non-UTF-8 argument becomes (surrogate escapes)


@dataclass(frozen=True)
class Cli:
    store: str
    home: Path

    def run(self, *args: str) -> tuple[int, str]:
        result = CliRunner().invoke(bus_app, list(args))
        # As `bus` (bus.cli.main.main) reports them: the bus's own errors as one line, exit 1.
        # Anything else escaping the command would be a traceback.
        escaped = result.exception
        assert escaped is None or isinstance(escaped, (SystemExit, BusError)), (
            args[:4],
            repr(escaped)[:300],
        )
        error = f"error: {escaped}" if isinstance(escaped, BusError) else ""
        # The command group turns any other exception into one line: still a bug.
        assert UNEXPECTED not in result.output, (args[:4], result.output[-300:])
        return result.exit_code, result.output + error


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_location: tuple[str, RawSql]) -> Cli:
    url, _ = store_location
    monkeypatch.setenv("BUS_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # where a value that is a valid relative path lands (--html)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "pseudonym.key").write_bytes(b"k" * 32)  # tests' PSEUDONYMS key
    with audit_api(tmp_path / "api", [audit_document(i) for i in range(30)], url):
        pass  # fills the store
    return Cli(url, tmp_path)


def _text(out: str) -> str:
    """The message without the box typer draws around it, on one line."""
    return " ".join(out.replace("│", " ").split())


def _refused_clearly(code: int, out: str, where: str) -> None:
    assert code in (1, 2), (where, code, out[-300:])
    assert "Traceback" not in out, where
    assert out.strip(), where


def test_every_cli_option_refuses_hostile_values(cli: Cli) -> None:
    for command, options in CLI_OPTIONS.items():
        store = ["--store", cli.store] if command[1] != "token" else []
        required = ["--subject", "someone"] if command[-1] == "report" else []
        required += ["--role", "agency-dpo"] if command[-1] == "issue" else []
        for option in options:
            for value in [*HOSTILE, NON_UTF8]:
                args = [*command, *store, *required, option, value, "--json"]
                if command[-1] == "issue":
                    args = [*command, "holder", *required, option, value]
                code, out = cli.run(*args)
                if code == 0:  # a value that is valid there: it matched as text, nothing more
                    assert "Traceback" not in out
                    continue
                _refused_clearly(code, out, f"{' '.join(command)} {option} {value[:20]!r}")


def test_hostile_arguments_and_stores(cli: Cli) -> None:
    for value in [*HOSTILE, NON_UTF8, "1.5", "0x10"]:
        code, out = cli.run("audit", "show", value, "--store", cli.store)
        where = f"show {value[:20]!r}"
        _refused_clearly(code, out, where) if value != str(2**63 - 1) else None
        code, out = cli.run("audit", "token", "revoke", value)
        _refused_clearly(code, out, f"token revoke {value[:20]!r}")
        code, out = cli.run("audit", "token", "issue", value, "--role", "auditor")
        if code == 0:  # a plain name: fine
            assert value.isascii(), value
            continue
        _refused_clearly(code, out, f"token issue {value[:20]!r}")
    # Any other text is a valid SQLite file name (a store is made there): only what cannot be one.
    for value in [
        "a\x00b",
        "x" * 10_000,
        "sqlite:///",
        "sqlite:///" + "x" * 5000,
        "sqlite:///a\x00b",
        "postgresql://u:p@127.0.0.1:1/none",
        "postgresql://%zz",
        "mysql://x",
        "sqlite://relative.db",
        f"sqlite:///{cli.home}",
        str(cli.home),
        f"sqlite:///{cli.home}/none/" + "y" * 300,
    ]:
        for command in (("audit", "query"), ("audit", "stats"), ("audit", "show", "1")):
            code, out = cli.run(*command, "--store", value)
            _refused_clearly(code, out, f"{' '.join(command)} --store {value[:30]!r}")


def test_a_token_file_bus_did_not_write_is_refused_clearly(cli: Cli) -> None:
    tokens = cli.home / "audit" / "tokens.json"
    tokens.parent.mkdir(exist_ok=True)
    for content in (
        b"",
        b"{",
        b"[1]",
        b'[{"name": 1}]',
        b"\xff\xfe",
        b"null",
        b'[{"name": "a", "role": "god", "agency": null, "sha256": "", "issued_at": "yesterday"}]',
    ):
        tokens.write_bytes(content)
        for command in (("list",), ("revoke", "a"), ("issue", "b", "--role", "auditor")):
            code, out = cli.run("audit", "token", *command)
            _refused_clearly(code, out, f"token {command[0]} with {content[:20]!r}")
            assert "not a token file bus wrote" in out, out


def test_the_issues_cases_are_one_clear_line(cli: Cli) -> None:
    code, out = cli.run("audit", "show", HUGE, "--store", cli.store)
    assert code == 2
    assert "Invalid value for 'decision_id'" in _text(out)
    assert "less than or equal to 9223372036854775807" in _text(out)
    assert len(out.strip().splitlines()) < 10
    code, out = cli.run("audit", "query", "--since", "-1", "--store", cli.store)
    assert code == 2
    assert "--since: Value error, expected RFC 3339 with a time zone" in _text(out)
    code, out = cli.run("audit", "token", "revoke", "nobody")
    assert (code, out.strip()) == (
        1,
        f"error: {cli.home}/audit/tokens.json: no token named 'nobody' (see bus audit token list)",
    )


def test_serve_and_index_refuse_bad_options_before_they_start(cli: Cli) -> None:
    for option, value in [
        ("--port", "0"),
        ("--port", "65536"),
        ("--port", HUGE),
        ("--port", "NaN"),
        ("--metrics-port", "-1"),
        ("--metrics-port", HUGE),
        ("--rate-limit", "lots"),
        ("--rate-limit", "0/minute"),
        ("--rate-limit", ""),
        ("--log-format", "xml"),
    ]:
        code, out = cli.run("audit", "serve", "--store", cli.store, option, value)
        _refused_clearly(code, out, f"serve {option} {value[:20]}")
    for port in (HUGE, "65536", "-1"):  # the indexer checks its port before it connects
        code, out = cli.run("audit", "index", "--store", cli.store, "--metrics-port", port)
        _refused_clearly(code, out, f"index --metrics-port {port}")
        assert "--metrics-port" in out
