"""Who gets in, how often, and what never travels in a URL: token expiry and revocation, the
per-token rate limit, and a person's identifier refused in query strings (real SQLite store)."""

import hashlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn

from bus.audit.access import Role, TokenRefusedError, TokenRegistry
from bus.audit.api.app import SERVER_SETTINGS
from bus.audit.api.rate_limit import RateLimit
from bus.errors import ConfigError
from tests.support.audit_api import NOW, Api, audit_api, bearer
from tests.support.audit_records import PSEUDONYMS, audit_document, person

CLOCK = [NOW]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    CLOCK[0] = NOW
    with audit_api(
        tmp_path, [audit_document(i, people=5) for i in range(20)], clock=lambda: CLOCK[0]
    ) as running:
        yield running


def test_a_token_is_refused_from_the_moment_it_expires(api: Api) -> None:
    token = bearer(api.tokens.issue("carol", Role.AUDITOR, lifetime=timedelta(days=1), now=NOW))
    CLOCK[0] = NOW + timedelta(days=1) - timedelta(seconds=1)
    assert api.get("/decisions", token).status_code == 200
    CLOCK[0] = NOW + timedelta(days=1)
    refused = api.get("/decisions", token)
    assert refused.status_code == 401
    assert refused.json()["error"] == (
        "token 'carol' expired at 2026-11-24T12:00:00.000000Z; ask for a new one"
    )
    assert refused.headers["www-authenticate"] == "Bearer"


def test_tokens_expire_after_90_days_unless_issued_otherwise(api: Api) -> None:
    CLOCK[0] = NOW + timedelta(days=90)
    assert api.get("/decisions", api.auditor).status_code == 401


def test_a_revoked_token_is_refused_at_once_and_stays_listed(api: Api) -> None:
    assert api.get("/decisions", api.dpo).status_code == 200
    api.tokens.revoke("bob", now=NOW)
    refused = api.get("/decisions", api.dpo)
    assert refused.status_code == 401
    assert "token 'bob' was revoked at" in refused.json()["error"]
    assert api.get("/decisions", api.auditor).status_code == 200  # the others are untouched
    [bob] = [h for h in api.tokens.holders() if h.principal.name == "bob"]
    assert bob.revoked_at == NOW
    with pytest.raises(ConfigError, match="revoked already"):
        api.tokens.revoke("bob")
    with pytest.raises(ConfigError, match="no token named 'nobody'"):
        api.tokens.revoke("nobody")


def test_each_token_has_its_own_rate_limit_and_429_says_when_to_come_back(
    tmp_path: Path,
) -> None:
    with audit_api(tmp_path, [audit_document(0)], rate="3/minute") as limited:
        assert [limited.get("/decisions", limited.dpo).status_code for _ in range(3)] == [200] * 3
        refused = limited.get("/decisions", limited.dpo)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "more than 3/minute requests" in refused.json()["error"]
        assert (
            limited.client.post(
                "/subject-report", json={"subject": person(1)}, headers=limited.dpo
            ).status_code
            == 429
        )  # every route counts against the same token
        assert limited.get("/decisions", limited.auditor).status_code == 200


def test_guessing_tokens_is_rate_limited_too(tmp_path: Path) -> None:
    with audit_api(tmp_path, [audit_document(0)], rate="3/minute") as limited:
        wrong = bearer("guess")
        assert [limited.get("/decisions", wrong).status_code for _ in range(4)] == [401] * 3 + [429]


def test_the_dpo_tokens_of_one_agency_share_its_rate(tmp_path: Path) -> None:
    """Otherwise an agency would multiply its rate by issuing itself more tokens."""
    with audit_api(tmp_path, [audit_document(0)], rate="3/minute") as limited:
        second = bearer(limited.tokens.issue("bob2", Role.AGENCY_DPO, "tax-by", now=NOW))
        other = bearer(limited.tokens.issue("kurt", Role.AGENCY_DPO, "kba-de", now=NOW))
        codes = [limited.get("/decisions", t).status_code for t in (limited.dpo, second) * 2]
        assert codes == [200, 200, 200, 429]
        assert limited.get("/decisions", second).status_code == 429
        assert limited.get("/decisions", other).status_code == 200  # another agency's own rate


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [("GET", "/decisions?subject=P-4711-0815", None), ("POST", "/subject-report", b" " * 20_000)],
)
def test_requests_refused_unread_pass_the_login_and_rate_first_and_leave_no_row(
    tmp_path: Path, method: str, url: str, body: bytes | None
) -> None:
    """A `subject` in the URL or a body too large was answered before the login: 50 such
    requests without a token wrote 50 rows, and no window ever filled."""
    with audit_api(tmp_path, [audit_document(0)], rate="3/minute") as limited:
        codes = [limited.client.request(method, url, content=body).status_code for _ in range(50)]
        assert codes == [401] * 3 + [429] * 47
        assert limited.store.access_log() == []
        with_token = limited.client.request(method, url, content=body, headers=limited.auditor)
        assert with_token.status_code in (400, 413)
        assert [row[1] for row in limited.store.access_log()] == ["alice"]


def test_a_forwarded_for_header_names_no_new_client(tmp_path: Path) -> None:
    """uvicorn believes X-Forwarded-For from 127.0.0.1 unless told not to; the API listens there,
    so a caller naming a new address per request never filled its window. Real server, socket."""
    with audit_api(tmp_path, [audit_document(0)], rate="3/minute") as limited:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(limited.client.app, host="127.0.0.1", port=port, **SERVER_SETTINGS)
        )
        running = threading.Thread(target=server.run, daemon=True)
        running.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.05)
            codes = [_status(f"http://127.0.0.1:{port}/decisions", f"10.1.{i}.1") for i in range(5)]
        finally:
            server.should_exit = True
            running.join(10)
        assert codes == [401] * 3 + [429] * 2


def _status(url: str, forwarded_for: str) -> int:
    headers = {**bearer("guess"), "X-Forwarded-For": forwarded_for}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (our own http URL)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def test_a_body_of_no_declared_length_is_refused_unread(api: Api) -> None:
    """Chunked, it would be read in full to learn its size: before the login, by anyone."""
    chunks = iter([b'{"subject": "a"}', b" " * 20_000])
    response = api.client.post("/subject-report", content=chunks, headers=api.auditor)
    assert (response.status_code, response.json()) == (
        411,
        {"error": "a request body needs a Content-Length (at most 16384 bytes)"},
    )


@pytest.mark.parametrize("who", ["auditor", "dpo"])
def test_a_person_identifier_in_place_of_a_decision_id_is_refused_and_not_logged(
    api: Api, who: str
) -> None:
    response = api.get("/decisions/P-4711-0815", getattr(api, who))
    assert response.status_code == 422
    assert response.json()["problems"][0]["parameter"] == "decision_id"
    [row] = api.store.access_log(limit=1)
    assert (row[5], row[7]) == ("/decisions/{decision_id}", 422)
    assert not any("P-4711-0815" in str(row) for row in api.store.access_log())


@pytest.mark.parametrize("rate", ["", "abc", "0/minute", "-1/minute", "5/2 days", "1e3/minute"])
def test_a_rate_limit_that_is_none_is_refused(rate: str) -> None:
    with pytest.raises(ConfigError, match=r"e\.g\. 120/minute"):
        RateLimit(rate)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/decisions?subject=P-4711-0815"),
        ("GET", "/stats?Subject=P-4711-0815"),
        ("GET", "/integrity?subject=P-4711-0815"),
        ("GET", "/decisions/1?%20subject=P-4711-0815"),
        ("POST", "/subject-report?subject=P-4711-0815"),
        ("GET", "/nowhere?SUBJECT=P-4711-0815"),
    ],
)
def test_a_person_identifier_in_a_url_is_refused_and_not_logged(
    api: Api, method: str, url: str
) -> None:
    response = api.client.request(method, url, headers=api.auditor, json={"subject": "x"})
    assert response.status_code == 400
    assert "never taken in a URL" in response.json()["error"]
    assert not any("P-4711-0815" in str(row) for row in api.store.access_log())


def test_a_broken_token_file_shuts_everyone_out_with_503_not_a_crash(api: Api) -> None:
    api.tokens.path.write_text("{")
    refused = api.get("/decisions", api.auditor)
    assert refused.status_code == 503
    assert refused.json()["error"] == "the API cannot check tokens now; its operator is told"


@pytest.mark.parametrize("path", ["/subject-report", "/subject-report.html"])
def test_who_asked_for_whose_report_is_logged_under_the_pseudonym(api: Api, path: str) -> None:
    assert api.client.post(path, json={"subject": person(2)}, headers=api.dpo).status_code == 200
    [last] = api.store.access_log(limit=1)
    pseudonym = PSEUDONYMS.pseudonym("audit", person(2))
    assert (last[1], last[5], last[6]) == ("bob", path, f"subject_pseudonym={pseudonym}")


def test_a_body_larger_than_any_query_needs_is_refused_unread(api: Api) -> None:
    padded = b'{"subject": "a"}' + b" " * 20_000
    response = api.client.post(
        "/subject-report",
        content=padded,
        headers={**api.auditor, "content-type": "application/json"},
    )
    assert (response.status_code, response.json()) == (
        413,
        {"error": "a request body is at most 16384 bytes"},
    )


def test_a_token_issued_before_tokens_expired_lives_the_default_lifetime(tmp_path: Path) -> None:
    """Token files written by earlier versions have no expiry: theirs is issued + 90 days."""
    token = "old-token"
    (tmp_path / "tokens.json").write_text(
        json.dumps(
            [
                {
                    "name": "olga",
                    "role": "auditor",
                    "agency": None,
                    "issued_at": "2026-09-01T00:00:00Z",
                    "sha256": hashlib.sha256(token.encode()).hexdigest(),
                }
            ]
        )
    )
    registry = TokenRegistry(tmp_path / "tokens.json")
    assert registry.authenticate(token, datetime(2026, 11, 29, 23, tzinfo=UTC)).name == "olga"
    with pytest.raises(TokenRefusedError, match=r"expired at 2026-11-30T00:00:00\.000000Z"):
        registry.authenticate(token, datetime(2026, 11, 30, tzinfo=UTC))
