"""`bus audit serve`: the auditor API under uvicorn (SIGTERM or Ctrl-C: finishes requests, stops)."""

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from prometheus_client import CollectorRegistry

from bus.audit.access import TokenRegistry
from bus.audit.api.alert_board import KafkaAlertBoard
from bus.audit.api.app import SERVER_SETTINGS, create_app
from bus.audit.api.integrity_watch import IntegrityWatch
from bus.audit.api.metrics import ApiMetrics
from bus.audit.api.rate_limit import RateLimit
from bus.audit.audit_key import AuditKeyFiles, default_pinned_key, load_pinned_key
from bus.audit.indexer_access import FRESH_USER_WAIT_S, VERIFIER_ROLE
from bus.audit.store import open_store
from bus.audit.witness import Witness, read_witness
from bus.errors import ConfigError
from bus.kafka.profile import load_profile
from bus.kafka.topics import ALERTS_TOPIC, AUDIT_CHECKPOINTS_TOPIC
from bus.keys.keystore import AgencyPublicKey
from bus.record.pseudonyms import load_pseudonymizer
from bus.util.metrics_endpoint import serve_metrics

log = logging.getLogger(__name__)


def serve(
    store_url: str,
    tokens: TokenRegistry,
    host: str,
    port: int,
    metrics_port: int,
    rate_limit: RateLimit,
    witness_topic: str = AUDIT_CHECKPOINTS_TOPIC,
    profile: Path | None = None,
    alerts_topic: str = ALERTS_TOPIC,
    agency_names: Mapping[str, str] | None = None,
) -> None:
    """Serve the auditor API until SIGTERM or Ctrl-C, verifying the store in the background.

    Parameters:
        store_url: the audit store (see open_store).
        tokens: the bearer tokens that open it.
        host: the address to listen on.
        port: the API's port.
        metrics_port: the Prometheus metrics' own port; 0 for none.
        rate_limit: requests allowed per caller.
        witness_topic: the checkpoints' witness topic the store is also checked against.
        profile: the verifier's connection profile (None: $BUS_PROFILE, else its default file).
        alerts_topic: the watch's alerts, shown in the console (read as the verifier too).
        agency_names: agency id → name, for the citizens' report in the console.
    """
    # The key pinned outside the store, as `bus audit verify` uses: not the one beside it.
    public_key = load_pinned_key(default_pinned_key(), AuditKeyFiles.default())
    pseudonyms = load_pseudonymizer()
    metrics = None
    if metrics_port:
        registry = CollectorRegistry()
        metrics = ApiMetrics(registry)
        serve_metrics(metrics_port, registry)
    store = open_store(store_url)
    try:
        watch = IntegrityWatch(
            store,
            public_key,
            lambda: datetime.now(UTC),
            witness=witness_reader(witness_topic, public_key, profile),
        )
        refresh = threading.Thread(target=_keep_fresh, args=(watch,), daemon=True)
        refresh.start()
        board = KafkaAlertBoard(load_profile(VERIFIER_ROLE, profile), alerts_topic).start()
        app = create_app(
            store,
            pseudonyms,
            tokens,
            public_key,
            metrics=metrics,
            integrity=watch,
            rate_limit=rate_limit,
            alerts=board,
            agency_names=agency_names,
        )
        # Our own JSON logging stays in charge (log_config=None); uvicorn handles the signals.
        # The client address is the connection's, never X-Forwarded-For (see SERVER_SETTINGS).
        uvicorn.run(app, host=host, port=port, **SERVER_SETTINGS)
    finally:
        store.close()


def witness_reader(
    topic: str, key: AgencyPublicKey, profile: Path | None = None
) -> Callable[[], Witness]:
    """Reads the witness topic as `audit-verifier`, from its connection profile (`profile`, else
    $BUS_PROFILE, else its default file): the API never holds the bus admin's password, nor
    touches a user or an ACL. ConfigError at start if the profile is missing or wrong."""
    try:
        connection = load_profile(VERIFIER_ROLE, profile)
    except ConfigError as exc:
        raise ConfigError(
            f"{exc}. The auditor API reads the witness topic as {VERIFIER_ROLE}, with its own"
            " connection profile"
        ) from exc
    return lambda: asyncio.run(read_witness(connection, topic, key, wait_s=FRESH_USER_WAIT_S))


def _keep_fresh(watch: IntegrityWatch) -> None:
    """Verify at start and then before each result grows stale, so requests rarely wait."""
    while True:
        try:
            watch.status(fresh=True)
        except Exception:  # a failed run must not end the refreshing; the next request retries
            log.exception("background verification failed")
        time.sleep(watch.max_age.total_seconds() * 0.8)
