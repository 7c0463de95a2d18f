"""The auditor API over a real SQLite audit store: roles, filters, pagination, the data-subject
report, integrity, errors, and its own access log."""

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from bus.audit.access import Role, TokenRegistry
from bus.audit.api.app import create_app
from bus.audit.api.metrics import ApiMetrics
from bus.audit.api.rate_limit import RateLimit
from bus.audit.audit_key import AuditKeyFiles, ensure_audit_key, load_audit_public_key
from bus.audit.dpo_ids import DpoDecisionIds
from bus.audit.query import encode_cursor
from bus.audit.store import AuditStore, SourceRecord, open_store
from bus.audit.store.audit_store import Checkpointing
from bus.record.audit_record import AUDIT_AUDIENCE
from tests.support.audit_records import PSEUDONYMS, audit_document, person, source_records

RECORDS = 500
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TAX_BY_IDS = DpoDecisionIds(PSEUDONYMS)  # the ids tax-by's DPO knows decisions by


@dataclass
class Api:
    client: TestClient
    store: AuditStore
    path: Path
    auditor: dict[str, str]
    dpo: dict[str, str]  # tax-by's data-protection officer
    metrics: CollectorRegistry

    def get(self, url: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        return self.client.get(
            url, params=params, headers=self.auditor if headers is None else headers
        )


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    keys = AuditKeyFiles.in_directory(tmp_path / "keys")
    path = tmp_path / "audit.db"
    store = open_store(f"sqlite:///{path}")
    store.append(
        source_records(RECORDS, people=50), NOW, Checkpointing(ensure_audit_key(keys), 100)
    )
    tokens = TokenRegistry(tmp_path / "tokens.json")
    auditor = tokens.issue("alice", Role.AUDITOR, now=NOW)
    dpo = tokens.issue("bob", Role.AGENCY_DPO, "tax-by", now=NOW)
    registry = CollectorRegistry()
    app = create_app(
        store,
        PSEUDONYMS,
        tokens,
        load_audit_public_key(keys),
        clock=lambda: NOW,
        metrics=ApiMetrics(registry),
        rate_limit=RateLimit("10000/minute"),
    )
    with TestClient(app) as client:
        yield Api(client, store, path, _bearer(auditor), _bearer(dpo), registry)
    store.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _all(api: Api, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api.get(
            "/decisions", headers, limit=37, **params, **({"cursor": cursor} if cursor else {})
        )
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def test_pages_walk_every_decision_once_newest_first(api: Api) -> None:
    ids = [d["id"] for d in _all(api, api.auditor)]
    assert ids == list(range(RECORDS, 0, -1))


def test_filters_select_what_the_records_say(api: Api) -> None:
    found = _all(api, api.auditor, consumer="kba-de", outcome="DENY", reason="DISCLOSURE_BLOCKED")
    expected = [
        i + 1
        for i in range(RECORDS)
        if (d := audit_document(i, people=50))["consumer"] == "kba-de"
        and d["outcome"] == "DENY"
        and d["reasons"] == ["DISCLOSURE_BLOCKED"]
    ]
    assert sorted(d["id"] for d in found) == expected
    assert expected


def test_a_query_by_subject_takes_the_real_id_in_a_post_body(api: Api) -> None:
    found = api.client.post(
        "/decisions/search", json={"subject": person(7), "limit": 1000}, headers=api.auditor
    )
    assert {d["id"] for d in found.json()["items"]} == {
        i + 1 for i in range(RECORDS) if i % 50 == 7
    }


def test_an_agency_dpo_sees_only_its_agencys_decisions(api: Api) -> None:
    seen = _all(api, api.dpo)
    assert seen
    assert all("tax-by" in (d["consumer"], d["producer"]) for d in seen)
    assert len(seen) == sum(
        (d := audit_document(i))["consumer"] == "tax-by" and d["outcome"] == "PERMIT"
        for i in range(RECORDS)
    )
    foreign = next(i + 1 for i in range(RECORDS) if audit_document(i)["consumer"] == "kba-de")
    assert api.get(f"/decisions/{foreign}").status_code == 200
    shown = TAX_BY_IDS.encode("tax-by", foreign)
    hidden = api.get(f"/decisions/{shown}", api.dpo)
    assert (hidden.status_code, hidden.json()) == (404, {"error": f"decision {shown} not found"})
    counts = api.get("/stats", api.dpo).json()["counts"]
    assert {c["consumer"] for c in counts} == {"tax-by"}
    report = api.client.post("/subject-report", json={"subject": person(1)}, headers=api.dpo).json()
    assert {r["agency"] for r in report["received"]} <= {"tax-by"}


def test_the_subject_report_names_exactly_who_received_data(api: Api) -> None:
    mine = [audit_document(i, people=50) for i in range(RECORDS) if i % 50 == 3]
    response = api.client.post("/subject-report", json={"subject": person(3)}, headers=api.auditor)
    assert response.status_code == 200
    report = response.json()
    permits = [d for d in mine if d["outcome"] == "PERMIT"]
    assert report["agencies_that_received_data"] == sorted({d["consumer"] for d in permits})
    assert [r["fields"] for r in report["received"]] == [d["released_fields"] for d in permits]
    assert [r["reasons"] for r in report["refused"]] == [
        d["reasons"] for d in mine if d["outcome"] != "PERMIT"
    ]
    assert "person-000003" not in response.text  # the report carries the pseudonym only


def test_the_subject_report_says_who_registered_an_interest_in_the_person(api: Api) -> None:
    subject = person(RECORDS % 50)
    changes = [
        audit_document(
            RECORDS + n,
            people=50,
            event_id=None,
            event_type=None,
            producer=None,
            outcome=outcome,
            reasons=[outcome],
            released_fields=[],
            grant_id=None,
            subject_pseudonym=PSEUDONYMS.pseudonym(AUDIT_AUDIENCE, subject),
            input={"topic": "bus.interest.tax-by.tax-residence", "partition": 0, "offset": n},
        )
        for n, outcome in enumerate(("INTEREST_ADDED", "INTEREST_REMOVED"))
    ]
    api.store.append(
        [
            SourceRecord("bus.audit", 0, RECORDS + n, json.dumps(d).encode())
            for n, d in enumerate(changes)
        ],
        NOW,
    )
    report = api.client.post("/subject-report", json={"subject": subject}, headers=api.auditor)
    interests = report.json()["interests"]
    assert [(i["agency"], i["registered"]) for i in interests] == [
        (changes[0]["consumer"], True),
        (changes[1]["consumer"], False),
    ]
    assert all(
        r["outcome"] not in ("INTEREST_ADDED", "INTEREST_REMOVED") for r in report.json()["refused"]
    )
    page = api.client.post("/subject-report.html", json={"subject": subject}, headers=api.auditor)
    assert "Interests registered in this person (2)" in page.text


def test_the_html_report_is_a_page_with_every_value_escaped(api: Api) -> None:
    hostile = audit_document(RECORDS, people=50, consumer="<script>alert(1)</script>")
    api.store.append([SourceRecord("bus.audit", 0, RECORDS, json.dumps(hostile).encode())], NOW)
    subject = person(RECORDS % 50)
    page = api.client.post("/subject-report.html", json={"subject": subject}, headers=api.auditor)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "Agencies that received data" in page.text


def test_one_decision_is_explained(api: Api) -> None:
    body = api.get("/decisions/3").json()
    assert body["decision"]["id"] == 3
    assert body["explanation"].startswith(("PERMIT", "DENY"))
    # The test records name a snapshot the store does not hold: replay says so, it does not guess.
    assert body["replay"]["status"] == "NOT_REPLAYABLE"
    assert "not in the store" in body["replay"]["detail"]


def test_integrity_reports_intact_then_names_the_tampered_record(api: Api) -> None:
    first = api.get("/integrity").json()
    assert (first["intact"], first["records"], first["finding"]) == (True, RECORDS, None)
    assert first["verified_at"] == "2026-11-23T12:00:00.000000Z"
    with sqlite3.connect(api.path) as db:
        db.execute("UPDATE decisions SET record = CAST('{}' AS BLOB) WHERE seq = 250")
    # Within minutes of the last verification, that one is served (and says when it was made).
    assert api.get("/integrity").json() == first
    second = api.get("/integrity", fresh="true").json()
    assert second["intact"] is False
    assert (second["finding"]["kind"], second["finding"]["seq"]) == ("MODIFIED", 250)
    assert api.get("/integrity").json() == second  # the newest verification from now on


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"outcome": "FOO"}, "outcome"),
        ({"reason": "out_of_jurisdiction"}, "reason"),
        ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "until"),
        ({"since": "2026-11-01T00:00:00"}, "since"),
        ({"limit": 0}, "limit"),
        ({"cursor": "bm9wZQ"}, "cursor"),
        ({"consumr": "tax-by"}, "consumr"),
    ],
)
def test_bad_filters_are_refused_with_a_clear_message(
    api: Api, params: dict[str, Any], parameter: str
) -> None:
    response = api.get("/decisions", **params)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid request"
    [problem] = body["problems"]
    assert problem["parameter"] == parameter
    assert problem["message"]


def test_unknown_id_is_404(api: Api) -> None:
    response = api.get("/decisions/999999")
    assert (response.status_code, response.json()) == (404, {"error": "decision 999999 not found"})


def test_without_a_valid_token_nothing_is_answered(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        response = api.get("/decisions", headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


def test_every_access_is_logged_and_no_real_id_in_the_log(api: Api) -> None:
    api.get("/decisions", {})  # 401: counted, not logged (see the next test)
    api.get("/decisions", outcome="FOO")  # 422
    api.get("/decisions", subject=person(7))  # 400: never in a URL
    api.get("/decisions", subjct=person(7))  # 422, misspelt: its value is not logged either
    api.client.get(f"/decisions?{person(7)}=1", headers=api.auditor)  # nor a name: an id?
    api.client.post("/decisions/search", json={"subject": person(7)}, headers=api.auditor)
    api.get(f"/decisions/{person(7)}")  # 422: the route's template is logged, not the path
    api.get("/decisions/1", api.dpo)  # a DPO names decisions by its own ids: 422 too
    api.get("/decisions/1")
    log = api.store.access_log()
    seen = PSEUDONYMS.pseudonym("audit", person(7))  # who looked up whom stays accountable
    assert [(row[1], row[5], row[6], row[7]) for row in reversed(log)] == [
        ("alice", "/decisions", "outcome=FOO", 422),
        ("alice", "/decisions", "subject=%5Bwithheld%5D", 400),
        ("alice", "/decisions", "%5Bunknown%5D=%5Bwithheld%5D", 422),
        ("alice", "/decisions", "%5Bunknown%5D=%5Bwithheld%5D", 422),
        ("alice", "/decisions/search", f"subject_pseudonym={seen}", 200),
        ("alice", "/decisions/{decision_id}", "", 422),
        ("bob", "/decisions/{decision_id}", "", 422),
        ("alice", "/decisions/1", "", 200),
    ]
    assert not any(person(7) in str(row) for row in log)


def test_requests_without_a_valid_token_are_counted_not_stored(api: Api) -> None:
    """Anyone can send them: a row each would let anyone fill the audit database."""
    api.get("/decisions", {})
    api.get("/decisions", {"Authorization": "Bearer guess"}, subject=person(7))
    api.client.post("/decisions/search", content=b" " * 20_000, headers={})
    assert api.store.access_log() == []

    def refused(route: str, method: str) -> float | None:
        labels = {"route": route, "method": method, "status": "401", "role": "none"}
        return api.metrics.get_sample_value("bus_audit_api_requests_total", labels)

    assert refused("/decisions", "GET") == 2  # one refused unread: it asked by subject
    assert refused("/decisions/search", "POST") == 1  # refused unread: its body is too large


def test_openapi_lists_the_routes(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert {
        "/decisions",
        "/decisions/search",
        "/decisions/{decision_id}",
        "/stats",
        "/subject-report",
        "/subject-report.html",
        "/integrity",
    } <= set(paths)


def test_a_cursor_from_elsewhere_is_refused_but_ours_works(api: Api) -> None:
    page = api.get("/decisions", limit=5, cursor=encode_cursor(10)).json()
    assert [d["id"] for d in page["items"]] == [9, 8, 7, 6, 5]


def test_requests_are_counted_by_route_template_status_and_role(api: Api) -> None:
    api.get("/decisions/1")
    api.get("/decisions/2")
    api.get(f"/decisions/{TAX_BY_IDS.encode('tax-by', 999999)}", api.dpo)
    api.get("/decisions", {})

    def requests(route: str, status: int, role: str) -> float | None:
        labels = {"route": route, "method": "GET", "status": str(status), "role": role}
        return api.metrics.get_sample_value("bus_audit_api_requests_total", labels)

    assert requests("/decisions/{decision_id}", 200, "auditor") == 2  # one series, not one per id
    assert requests("/decisions/{decision_id}", 404, "agency-dpo") == 1
    assert requests("/decisions", 401, "none") == 1
    count = api.metrics.get_sample_value(
        "bus_audit_api_request_seconds_count", {"route": "/decisions/{decision_id}"}
    )
    assert count == 3


def test_the_docs_page_needs_no_network(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    scripts = [
        line for line in page.text.splitlines() if "<script src=" in line or "stylesheet" in line
    ]
    assert scripts
    assert all("/static-offline-docs/" in line for line in scripts), scripts
    assert "cdn." not in page.text
    assert "https://" not in page.text.split("<body>")[0]
    bundle = api.client.get("/static-offline-docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert len(bundle.content) > 1_000_000
    assert "3.1" in api.client.get("/openapi.json").json()["openapi"]
