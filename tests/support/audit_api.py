"""The auditor API over a real audit store filled with given records, with an auditor's and
tax-by's data-protection officer's tokens: for the scope, access and hostile-input tests."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from bus.audit.access import Role, TokenRegistry
from bus.audit.api.alert_board import AlertSource
from bus.audit.api.app import Clock, create_app
from bus.audit.api.rate_limit import RateLimit
from bus.audit.audit_key import AuditKeyFiles, ensure_audit_key, load_audit_public_key
from bus.audit.store import AuditStore, SourceRecord, open_store
from bus.audit.store.audit_store import Checkpointing
from tests.support.audit_records import PSEUDONYMS

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class Api:
    client: TestClient
    store: AuditStore
    tokens: TokenRegistry
    auditor: dict[str, str]
    dpo: dict[str, str]  # tax-by's data-protection officer

    def get(self, url: str, headers: dict[str, str], **params: Any) -> Any:
        return self.client.get(url, params=params, headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class AuditApp:
    app: FastAPI
    store: AuditStore
    tokens: TokenRegistry
    auditor_token: str
    dpo_token: str  # tax-by's data-protection officer


def audit_app(
    directory: Path,
    records: list[dict[str, Any]],
    store_url: str | None = None,
    rate: str = "100000/minute",
    clock: Clock = lambda: NOW,
    alerts: AlertSource | None = None,
) -> AuditApp:
    """The API (and console) over `records` as the enforcer wrote them, then one unreadable
    record; keys and tokens in `directory`; the store at `store_url` (default: SQLite in
    `directory`). The caller closes the store."""
    keys = AuditKeyFiles.in_directory(directory / "keys")
    store = open_store(store_url or f"sqlite:///{directory / 'audit.db'}")
    written = [json.dumps(d).encode() for d in records] + [b"not json"]
    store.append(
        [SourceRecord("bus.audit", 0, i, value) for i, value in enumerate(written)],
        NOW,
        Checkpointing(ensure_audit_key(keys), 100),
    )
    tokens = TokenRegistry(directory / "tokens.json")
    auditor = tokens.issue("alice", Role.AUDITOR, now=NOW)
    dpo = tokens.issue("bob", Role.AGENCY_DPO, "tax-by", now=NOW)
    app = create_app(
        store,
        PSEUDONYMS,
        tokens,
        load_audit_public_key(keys),
        clock=clock,
        rate_limit=RateLimit(rate),
        alerts=alerts,
        agency_names={"tax-by": "Bayerisches Landesamt für Steuern"},
    )
    return AuditApp(app, store, tokens, auditor, dpo)


@contextmanager
def audit_api(
    directory: Path,
    records: list[dict[str, Any]],
    store_url: str | None = None,
    rate: str = "100000/minute",
    clock: Clock = lambda: NOW,
    alerts: AlertSource | None = None,
) -> Iterator[Api]:
    """audit_app behind FastAPI's test client."""
    made = audit_app(directory, records, store_url, rate, clock, alerts)
    try:
        with TestClient(made.app, raise_server_exceptions=False) as client:
            yield Api(
                client, made.store, made.tokens, bearer(made.auditor_token), bearer(made.dpo_token)
            )
    finally:
        made.store.close()
