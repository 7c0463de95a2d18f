"""`/healthz` beside `/metrics`: 200 while the enforcer may proceed, 503 while it is paused, a JSON
report with the age of the state in force either way; a taken port is a clear error."""

import json
import math
import urllib.error
import urllib.request
from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry

from bus.enforcer.health import STARTING, EnforcerHealth
from bus.errors import ConfigError
from bus.util.metrics_endpoint import serve_metrics
from tests.support.private_broker import free_ports


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def test_healthz_reports_the_state_in_force_and_turns_503_when_paused() -> None:
    registry = CollectorRegistry()
    health = EnforcerHealth(registry)
    current = replace(
        STARTING,
        proceeding=True,
        watcher_running=True,
        state_age_s=4.0,
        staleness_limit_s=300,
        policy="sha256:abc",
        subscriptions=3,
        acls_in_sync=True,
        acls_synced_age_s=12.0,
    )
    health.attach(lambda: current)
    (port,) = free_ports(1)
    serve_metrics(port, registry, health.healthz)

    status, body = _get(port, "/healthz")
    report = json.loads(body)
    assert status == 200
    assert report["status"] == "ok"
    assert report["state_age_s"] == 4.0
    assert report["policy"] == "sha256:abc"

    current = replace(current, proceeding=False, state_age_s=math.inf)
    status, body = _get(port, "/healthz")
    assert status == 503
    assert json.loads(body)["status"] == "paused"
    assert json.loads(body)["state_age_s"] is None  # never refreshed: no finite age

    status, body = _get(port, "/metrics")
    assert status == 200
    assert b"bus_enforcer_paused 1.0" in body
    assert b"bus_enforcer_state_age_seconds +Inf" in body


def test_a_taken_port_is_a_clear_error() -> None:
    (port,) = free_ports(1)
    serve_metrics(port, CollectorRegistry())
    with pytest.raises(ConfigError, match=f"--metrics-port {port}"):
        serve_metrics(port, CollectorRegistry())
