"""What an agency's data-protection officer (DPO) can learn through the auditor API, rule by rule
(bus/audit/scope.py), on a real SQLite store: its receipts, its refused subscriptions, its own
events' deliveries and quarantines, denials to it as settled monthly counts only; nothing else."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bus.audit.access import Role
from bus.audit.dpo_ids import DpoDecisionIds
from bus.audit.replay import Replay, ReplayStatus
from bus.audit.scope import DENIAL_MONTHS, DENIAL_REASONS, MIN_COUNT, dpo_replay
from bus.envelope.attributes import format_time
from tests.support.audit_api import NOW, Api, audit_api, bearer
from tests.support.audit_records import PSEUDONYMS, audit_document

PROTECTED = "P-4711-0815"  # under a disclosure block, just registered in Stuttgart
STUTTGART = "muni-08111000"
MUNICH = "muni-09162000"
MOVE_IN_STUTTGART = "01900000-0000-7000-8000-0000000000aa"
IDS = DpoDecisionIds(PSEUDONYMS)


def tax_by(seq: int) -> str:
    """The id tax-by's DPO knows decision `seq` by."""
    return IDS.encode("tax-by", seq)


def _decision(
    consumer: str | None,
    outcome: str,
    reasons: list[str],
    *,
    producer: str | None = MUNICH,
    subject: str | None = PROTECTED,
    event_id: str | None = None,
    at: datetime = NOW - timedelta(hours=1),
) -> dict[str, Any]:
    permit = outcome == "PERMIT"
    return audit_document(
        0,
        consumer=consumer,
        producer=producer,
        outcome=outcome,
        reasons=reasons,
        event_id=event_id,
        purpose=f"purpose-{consumer}" if consumer else None,
        released_fields=["person_id", "new_address"] if permit else [],
        grant_id=f"grant-{consumer}" if permit else None,
        decided_at=format_time(at),
        subject_pseudonym=PSEUDONYMS.pseudonym("audit", subject) if subject else None,
    )


# Decision ids are positions in this list, from 1. What tax-by's DPO may see is marked.
DECISIONS: list[tuple[dict[str, Any], bool]] = [
    # Stuttgart registers the protected person's move: benefits-de receives it, tax-by and kba-de
    # are refused. The refusal to tax-by is exactly what its DPO once learned the move from.
    (_decision("benefits-de", "PERMIT", [], producer=STUTTGART, event_id=MOVE_IN_STUTTGART), False),
    (
        _decision(
            "tax-by",
            "DENY",
            ["OUT_OF_JURISDICTION", "DISCLOSURE_BLOCKED"],
            producer=STUTTGART,
            event_id=MOVE_IN_STUTTGART,
        ),
        False,
    ),
    (
        _decision(
            "kba-de", "DENY", ["DISCLOSURE_BLOCKED"], producer=STUTTGART, event_id=MOVE_IN_STUTTGART
        ),
        False,
    ),
    # tax-by received an earlier event about the person: its own receipt.
    (_decision("tax-by", "PERMIT", [], event_id="01900000-0000-7000-8000-0000000000bb"), True),
    # Subscriptions refused: tax-by's is its own; kba-de's is not.
    (_decision("tax-by", "SUBSCRIPTION_REFUSED", ["NO_GRANT"], producer=None, subject=None), True),
    (_decision("kba-de", "SUBSCRIPTION_REFUSED", ["NO_GRANT"], producer=None, subject=None), False),
    # An event tax-by produced: delivered to benefits-de (its disclosure), refused to kba-de
    # (kba-de's decision), and one of its events quarantined.
    (
        _decision(
            "benefits-de",
            "PERMIT",
            [],
            producer="tax-by",
            event_id="01900000-0000-7000-8000-0000000000cc",
        ),
        True,
    ),
    (
        _decision(
            "kba-de",
            "DENY",
            ["OUT_OF_JURISDICTION"],
            producer="tax-by",
            event_id="01900000-0000-7000-8000-0000000000cc",
        ),
        False,
    ),
    (
        _decision(
            None,
            "QUARANTINED",
            ["INVALID_SIGNATURE"],
            producer="tax-by",
            event_id="01900000-0000-7000-8000-0000000000dd",
        ),
        True,
    ),
    # Someone else's quarantined event about the person, and an unreadable record.
    (_decision(None, "QUARANTINED", ["PRODUCER_NOT_AUTHORITATIVE"], producer=STUTTGART), False),
]
VISIBLE = {i + 1 for i, (_, visible) in enumerate(DECISIONS) if visible}
LAST_MONTH = datetime(2026, 10, 10, tzinfo=UTC)  # closed, and settled more than a week ago


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with audit_api(tmp_path, [d for d, _ in DECISIONS]) as running:
        yield running


def _ids(api: Api, headers: dict[str, str], **params: Any) -> set[int]:
    """The store's numbers of the decisions listed (a DPO's ids decoded with its agency's key)."""
    response = api.get("/decisions", headers, limit=1000, **params)
    assert response.status_code == 200, response.text
    ids = [d["id"] for d in response.json()["items"]]
    if headers is api.dpo:
        return {IDS.decode("tax-by", i) or 0 for i in ids}
    return set(ids)


def test_the_dpo_of_tax_by_cannot_learn_that_a_protected_person_moved_to_stuttgart(
    api: Api,
) -> None:
    """The trace that was possible: POST the person's id, read the refusal to one's own agency."""
    for path in ("/subject-report", "/subject-report.html"):
        response = api.client.post(path, json={"subject": PROTECTED}, headers=api.dpo)
        assert response.status_code == 200
        for clue in (
            STUTTGART,
            "DISCLOSURE_BLOCKED",
            "OUT_OF_JURISDICTION",
            MOVE_IN_STUTTGART,
            PSEUDONYMS.pseudonym("audit", PROTECTED),
            "kba-de",
            "benefits-de",
        ):
            assert clue not in response.text, (path, clue)
    report = api.client.post("/subject-report", json={"subject": PROTECTED}, headers=api.dpo)
    body = report.json()
    assert [r["decision_id"] for r in body["received"]] == [tax_by(4)]  # its own, nothing else
    assert (body["refused"], body["subject_pseudonym"]) == ([], None)
    # Nor by listing, filtering, counting or asking for the decision by id.
    for filters in (
        {},
        {"producer": STUTTGART},
        {"event_id": MOVE_IN_STUTTGART},
        {"reason": "DISCLOSURE_BLOCKED"},
        {"outcome": "DENY"},
    ):
        assert 2 not in _ids(api, api.dpo, **filters)
    assert api.get(f"/decisions/{tax_by(2)}", api.dpo).json() == {
        "error": f"decision {tax_by(2)} not found"
    }
    stats = api.get("/stats", api.dpo, producer=STUTTGART).json()
    assert stats["counts"] == []
    assert STUTTGART not in json.dumps(stats)
    # Every reason is in the grid of denial counts, each "fewer than 10" here: none singled out.
    assert {c["count"] for c in stats["denied_to_agency"]} == {None}


def test_a_dpo_sees_its_receipts_refused_subscriptions_and_own_events_only(api: Api) -> None:
    assert _ids(api, api.dpo) == VISIBLE
    assert _ids(api, api.auditor) == set(range(1, len(DECISIONS) + 2))  # + the unreadable one
    searched = api.client.post("/decisions/search", json={"subject": PROTECTED}, headers=api.dpo)
    assert {d["id"] for d in searched.json()["items"]} == {tax_by(i) for i in VISIBLE & {4, 7, 9}}


@pytest.mark.parametrize("decision_id", sorted(set(range(1, len(DECISIONS) + 2)) - VISIBLE))
def test_a_decision_outside_the_scope_looks_like_one_that_does_not_exist(
    api: Api, decision_id: int
) -> None:
    hidden = api.get(f"/decisions/{tax_by(decision_id)}", api.dpo)
    missing = api.get(f"/decisions/{tax_by(999)}", api.dpo)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == {"error": f"decision {tax_by(decision_id)} not found"}
    assert api.get(f"/decisions/{decision_id}", api.auditor).status_code == 200


@pytest.mark.parametrize("decision_id", sorted(VISIBLE))
def test_a_dpo_never_sees_the_audit_pseudonym_nor_the_audit_topic_position(
    api: Api, decision_id: int
) -> None:
    one = api.get(f"/decisions/{tax_by(decision_id)}", api.dpo).json()
    assert one["decision"]["id"] == tax_by(decision_id)
    listed = api.get("/decisions", api.dpo).json()["items"]
    for seen in (one["decision"], *listed):
        assert "subject_pseudonym" not in seen
        assert "source" not in seen  # the offset counts every party's records
    full = api.get(f"/decisions/{decision_id}", api.auditor).json()["decision"]
    assert {"subject_pseudonym", "source"} <= set(full)


def test_a_dpos_ids_and_cursors_count_no_one_elses_records(api: Api) -> None:
    """The store numbers every decision on the bus: ids 7 and 9 of one DPO would say that one
    record lies between them (here kba-de's refusal of tax-by's event). A DPO's ids are its own:
    no numbers, no order, valid for its agency alone."""
    listed = api.get("/decisions", api.dpo, limit=1000).json()["items"]
    shown = [d["id"] for d in listed]
    assert not any(str(i).isdigit() for i in shown)
    assert {IDS.decode("tax-by", i) for i in shown} == VISIBLE
    walked, cursor = [], None
    while True:  # page by page, each cursor is such an id too
        page = api.get("/decisions", api.dpo, limit=1, **({"cursor": cursor} if cursor else {}))
        walked += [d["id"] for d in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        assert cursor in shown
    assert walked == shown
    # Decision 7 (tax-by's event delivered to benefits-de) is seen by both agencies' DPOs.
    benefits = bearer(api.tokens.issue("berta", Role.AGENCY_DPO, "benefits-de", now=NOW))
    theirs = api.get("/decisions", benefits, limit=1000).json()["items"]
    assert tax_by(7) not in {d["id"] for d in theirs}
    assert IDS.encode("benefits-de", 7) in {d["id"] for d in theirs}
    for foreign, caller in ((tax_by(7), benefits), (tax_by(7), api.auditor), ("7", api.dpo)):
        refused = api.get(f"/decisions/{foreign}", caller)
        assert refused.status_code == 422, (foreign, refused.text)
        assert refused.json()["problems"][0]["parameter"] == "decision_id"


def test_an_auditors_subject_report_still_names_every_refusal(api: Api) -> None:
    body = api.client.post("/subject-report", json={"subject": PROTECTED}, headers=api.auditor)
    refused = {r["decision_id"] for r in body.json()["refused"]}
    assert refused == {2, 3, 8, 9, 10}


def test_a_dpo_counts_only_what_it_may_see(api: Api) -> None:
    counts = api.get("/stats", api.dpo, bucket="month").json()["counts"]
    assert sum(c["count"] for c in counts) == len(VISIBLE)
    assert {c["outcome"] for c in counts} == {"PERMIT", "SUBSCRIPTION_REFUSED", "QUARANTINED"}


@pytest.fixture
def denials(tmp_path: Path) -> Iterator[Api]:
    """Denials to tax-by: last month 12 out of jurisdiction (3 of them also blocked), this month
    a few more; and its receipts, each at the same moment as a denial."""
    records = []
    for i in range(12):
        at = LAST_MONTH + timedelta(hours=i)
        blocked = ["DISCLOSURE_BLOCKED"] if i < 3 else []
        records.append(_decision("tax-by", "DENY", ["OUT_OF_JURISDICTION", *blocked], at=at))
        records.append(_decision("tax-by", "PERMIT", [], at=at))
    for i in range(4):
        records.append(_decision("tax-by", "DENY", ["GRANT_EXPIRED"], at=NOW - timedelta(hours=i)))
    with audit_api(tmp_path, records) as running:
        yield running


def test_denials_to_its_agency_are_settled_monthly_counts_with_small_ones_withheld(
    denials: Api,
) -> None:
    body = denials.get("/stats", denials.dpo).json()
    october = [c for c in body["denied_to_agency"] if c["month"] == "2026-10"]
    few = {"count": None, "fewer_than": MIN_COUNT}
    assert october == [
        {"month": "2026-10", "reason": r, **({"count": 12} if r == "OUT_OF_JURISDICTION" else few)}
        for r in DENIAL_REASONS
    ]  # 3 DISCLOSURE_BLOCKED and 0 NO_GRANT read the same: fewer than 10
    # The last closed months, each with every reason; this month's denials are not counted yet
    # (a count that moves can be watched).
    months = sorted({c["month"] for c in body["denied_to_agency"]})
    assert (len(months), months[0], months[-1]) == (DENIAL_MONTHS, "2025-11", "2026-10")
    assert len(body["denied_to_agency"]) == DENIAL_MONTHS * len(DENIAL_REASONS)
    assert all(c["outcome"] != "DENY" for c in body["counts"])
    assert "denied_to_agency" not in denials.get("/stats", denials.auditor).json()


def test_an_agency_never_denied_reads_the_same_grid_as_one_denied_a_few_times(
    denials: Api,
) -> None:
    """A row only for a month and reason with a denial told 1 to 9 apart from none."""
    kba = bearer(denials.tokens.issue("kurt", Role.AGENCY_DPO, "kba-de", now=NOW))
    never = denials.get("/stats", kba).json()["denied_to_agency"]
    few = denials.get("/stats", denials.dpo).json()["denied_to_agency"]
    assert {c["count"] for c in never} == {None}
    assert [(c["month"], c["reason"]) for c in never] == [(c["month"], c["reason"]) for c in few]
    blocked = [c for c in few if c["reason"] == "DISCLOSURE_BLOCKED"]
    assert {c["count"] for c in blocked} == {None}  # 3 in October, 0 in the other months


@pytest.mark.parametrize(
    "filters",
    [
        {"since": "2026-10-10T00:00:00Z", "until": "2026-10-10T00:00:00.000001Z"},
        {"producer": MUNICH},
        {"reason": "DISCLOSURE_BLOCKED"},
        {"bucket": "hour"},
        {"event_id": "01900000-0000-7000-8000-000000000000"},
    ],
)
def test_no_filter_singles_out_a_denial(denials: Api, filters: dict[str, str]) -> None:
    unfiltered = denials.get("/stats", denials.dpo).json()["denied_to_agency"]
    assert denials.get("/stats", denials.dpo, **filters).json()["denied_to_agency"] == unfiltered


def test_a_replay_mismatch_tells_a_dpo_only_that_it_mismatched() -> None:
    checked = Replay(
        ReplayStatus.MISMATCH, "recorded ('PERMIT', ...), re-decided DISCLOSURE_BLOCKED"
    )
    shown = dpo_replay(checked)
    assert shown["status"] == "MISMATCH"
    assert shown["replayed"] is None
    assert "DISCLOSURE_BLOCKED" not in json.dumps(shown)
    not_replayable = Replay(ReplayStatus.NOT_REPLAYABLE, "snapshot missing")
    assert dpo_replay(not_replayable) == not_replayable.to_json()


def test_fresh_verification_is_for_auditors(api: Api) -> None:
    refused = api.get("/integrity", api.dpo, fresh="true")
    assert (refused.status_code, refused.json()["error"]) == (
        403,
        "fresh=true is for auditors; the latest verification is served",
    )
    assert api.get("/integrity", api.dpo).status_code == 200
    assert api.get("/integrity", api.auditor, fresh="true").json()["intact"] is True


def test_a_dpo_learns_whether_the_trail_is_intact_not_its_size_or_head(api: Api) -> None:
    full = api.get("/integrity", api.auditor).json()
    assert full["records"] == len(DECISIONS) + 1
    assert api.get("/integrity", api.dpo).json() == {
        "intact": True,
        "finding": None,
        "verified_at": full["verified_at"],
    }
