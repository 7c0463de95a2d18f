"""The DPO scope is the store's own filter: the same on SQLite and PostgreSQL."""

from pathlib import Path

from tests.support.audit_api import audit_api
from tests.support.audit_stores import RawSql
from tests.unit.test_audit_scopes import DECISIONS, PROTECTED, VISIBLE, tax_by


def test_a_dpo_sees_the_same_on_every_database(
    tmp_path: Path, store_location: tuple[str, RawSql]
) -> None:
    url, _ = store_location
    with audit_api(tmp_path, [d for d, _ in DECISIONS], url) as api:
        listed = api.get("/decisions", api.dpo).json()["items"]
        assert {d["id"] for d in listed} == {tax_by(i) for i in VISIBLE}
        for hidden in set(range(1, len(DECISIONS) + 2)) - VISIBLE:
            assert api.get(f"/decisions/{tax_by(hidden)}", api.dpo).status_code == 404
        report = api.client.post("/subject-report", json={"subject": PROTECTED}, headers=api.dpo)
        assert [r["decision_id"] for r in report.json()["received"]] == [tax_by(4)]
