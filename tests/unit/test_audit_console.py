"""The auditors' console over a real SQLite audit store: sign-in, the same role rules as the API,
pages that work without script or network, alerts linked to their decisions."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.audit.api.alert_board import FixedAlerts
from bus.audit.api.console import COOKIE
from bus.audit.dpo_ids import DpoDecisionIds
from bus.record.alert import Alert, AlertDecision
from tests.support.audit_api import Api, audit_api
from tests.support.audit_records import PSEUDONYMS, audit_document, person

TAX_BY_IDS = DpoDecisionIds(PSEUDONYMS)

RECORDS = [audit_document(i, people=20) for i in range(120)]


def alert(rule: str, kind: str, subject: str, positions: list[int]) -> Alert:
    return Alert(
        key=f"{rule}|{subject}|2026-11-01T00:00:00Z",
        rule=rule,
        subject_kind=kind,
        subject=subject,
        window_start="2026-11-01T00:00:00Z",
        window_end="2026-11-01T01:00:00Z",
        figures={"count": 600.0, "limit": 500.0},
        summary=f"{subject}: 600 events released in 1 h",
        decisions=tuple(
            AlertDecision(f"bus.audit:0:{p}", None, PSEUDONYMS.pseudonym("audit", person(p)))
            for p in positions
        ),
        raised_at="2026-11-01T00:40:00+00:00",
    )


ALERTS = [
    alert("bulk_release", "consumer-purpose", "tax-by/purpose-tax-by", [0, 4]),
    alert("bulk_release", "consumer-purpose", "kba-de/purpose-kba-de", [2]),
    alert("person_spread", "person", PSEUDONYMS.pseudonym("audit", person(3)), [3]),
]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with audit_api(tmp_path, RECORDS, alerts=FixedAlerts(ALERTS)) as found:
        yield found


def sign_in(api: Api, headers: dict[str, str]) -> None:
    token = headers["Authorization"].split()[1]
    answer = api.client.post("/console/sign-in", data={"token": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console/decisions"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/console" in cookie
    assert token not in cookie  # the token stays on the server


def test_without_a_session_every_page_asks_to_sign_in(api: Api) -> None:
    start = api.client.get("/console")
    assert start.status_code == 200
    assert 'name="token"' in start.text
    assert 'role="alert"' not in start.text
    for path in ("/console/decisions", "/console/decisions/1", "/console/alerts", "/console/stats"):
        page = api.client.get(path)
        assert page.status_code == 401
        assert 'name="token"' in page.text
        assert "<label" in page.text
    wrong = api.client.post("/console/sign-in", data={"token": "not-a-token"})
    assert wrong.status_code == 401
    assert "Not signed in" in wrong.text


def test_an_auditor_filters_pages_and_opens_a_decision(api: Api) -> None:
    sign_in(api, api.auditor)
    page = api.client.get("/console/decisions", params={"consumer": "tax-by", "outcome": "PERMIT"})
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    rows = page.text.count('<a href="/console/decisions/')
    assert rows == sum(1 for d in RECORDS if d["consumer"] == "tax-by" and d["outcome"] == "PERMIT")
    assert "<script" not in page.text
    assert "https://" not in page.text
    one = api.client.get("/console/decisions/2")
    assert one.status_code == 200
    assert "Legal basis" in one.text
    assert "Policy snapshot" in one.text
    assert "Replay" in one.text
    bad = api.client.get("/console/decisions", params={"since": "yesterday"})
    assert bad.status_code == 422
    assert "since" in bad.text


def test_a_dpo_sees_only_its_agencys_decisions_and_alerts(api: Api) -> None:
    sign_in(api, api.dpo)
    page = api.client.get("/console/decisions")
    assert "tax-by" in page.text
    assert "kba-de" not in page.text
    # A store number is no id of a DPO's: refused as such, as in the API.
    kba = next(i + 1 for i, d in enumerate(RECORDS) if d["consumer"] == "kba-de")
    assert api.client.get(f"/console/decisions/{kba}").status_code == 422
    alerts = api.client.get("/console/alerts").text
    assert "tax-by/purpose-tax-by" in alerts
    # Its own release behind the alert (position 4, seq 5) by its own id; a denial to it
    # (position 0) is not for it to see one by one; no pseudonym, no audit position.
    assert f'href="/console/decisions/{TAX_BY_IDS.encode("tax-by", 5)}"' in alerts
    assert alerts.count("<tr><td>") == 1  # the denial behind it is left out
    assert "psn-" not in alerts
    assert "bus.audit:" not in alerts
    assert "kba-de" not in alerts
    assert "person_spread" not in alerts


def test_alerts_link_to_their_decisions(api: Api) -> None:
    sign_in(api, api.auditor)
    page = api.client.get("/console/alerts").text
    assert page.count("<section") == 3
    assert '<a href="/console/decisions/1">' in page  # position bus.audit:0:0 is seq 1


def test_the_subject_report_speaks_to_the_citizen(api: Api) -> None:
    sign_in(api, api.auditor)
    page = api.client.post("/console/report", data={"subject": person(0)})  # tax-by's, some denied
    assert page.status_code == 200
    body = page.text.split("<main")[1]
    assert "Who received your data" in body
    assert "Bayerisches Landesamt für Steuern" in body
    assert "<td>tax-by</td>" not in body
    assert "(CET)" in body
    assert "UTC" not in body
    assert "You do not live in the area" in body or "A block on disclosing" in body
    assert "OUT_OF_JURISDICTION" not in body
    assert "DISCLOSURE_BLOCKED" not in body
    assert person(0) not in page.text  # the identifier is not echoed


def test_signing_out_ends_the_session(api: Api) -> None:
    sign_in(api, api.auditor)
    assert api.client.get("/console/stats").status_code == 200
    api.client.post("/console/sign-out")
    api.client.cookies.delete(COOKIE)
    assert api.client.get("/console/stats").status_code == 401


def test_a_revoked_token_ends_its_session_at_once(api: Api) -> None:
    sign_in(api, api.auditor)
    api.tokens.revoke("alice")
    page = api.client.get("/console/decisions")
    assert page.status_code == 401
    assert "Signed out" in page.text


def test_a_dpo_is_not_shown_probing_or_silence_alerts(tmp_path: Path) -> None:
    probing = alert("probing", "consumer", "tax-by", [0])  # a denial to tax-by, one by one
    silence = alert("silent_producer", "producer", "tax-by", [1])
    own = alert("quarantine_burst", "producer", "tax-by", [4])
    with audit_api(tmp_path, RECORDS, alerts=FixedAlerts([probing, silence, own])) as api:
        sign_in(api, api.dpo)
        page = api.client.get("/console/alerts").text
    assert page.count("<section") == 1
    assert "quarantine_burst" in page
    assert "probing" not in page
    assert "silent_producer" not in page


def test_a_dpo_opening_another_agencys_decision_by_its_own_kind_of_id_gets_not_found(
    api: Api,
) -> None:
    sign_in(api, api.dpo)
    kba = next(i + 1 for i, d in enumerate(RECORDS) if d["consumer"] == "kba-de")
    page = api.client.get(f"/console/decisions/{TAX_BY_IDS.encode('tax-by', kba)}")
    assert page.status_code == 404
    assert "Legal basis" not in page.text


def test_a_form_posted_from_another_site_is_refused(api: Api) -> None:
    token = api.auditor["Authorization"].split()[1]
    forged = api.client.post(
        "/console/sign-in",
        data={"token": token},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert COOKIE not in forged.headers.get("set-cookie", "")
    older = api.client.post(  # a browser that sends Origin but not Sec-Fetch-Site
        "/console/sign-in", data={"token": token}, headers={"Origin": "https://evil.example"}
    )
    assert older.status_code == 403
    sign_in(api, api.auditor)
    report = api.client.post(
        "/console/report", data={"subject": person(0)}, headers={"Sec-Fetch-Site": "same-site"}
    )
    assert report.status_code == 403
    assert "Who received your data" not in report.text
