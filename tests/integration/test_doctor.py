"""`bus doctor` on the real broker: each kind of problem, made on purpose, is found and named.

The shared broker carries other tests' topics and principals at the same time, so each test
asserts that *its own* problem is named (and, where the state is this test's alone, that a sound
one is not): never that the whole broker is healthy.
"""

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bus.cli.main import app
from bus.control.doctor.certificates import check_certificates
from bus.control.doctor.lag import check_lag, enforcer_lag
from bus.control.doctor.listeners import check_listeners
from bus.control.doctor.service_rights import check_open_principals, check_service_profiles
from bus.control.service_principals import ENFORCER_GROUP, SERVICE_ROLES
from bus.kafka.admin import Acl, KafkaAdmin, Operation, Resource
from bus.kafka.connection import KafkaConnection
from bus.kafka.profile import load_profile, write_profile
from bus.kafka.settings import KafkaSettings
from bus.kafka.topics import DELIVERY_PREFIX, INGRESS_PREFIX
from tests.support.kafka import produce_one, unique_name


@pytest.fixture
def operator(kafka_broker: KafkaConnection) -> KafkaConnection:
    return load_profile("operator")


@pytest.fixture
def drifted_delivery_topic(kafka_admin: KafkaAdmin) -> Iterator[str]:
    """A delivery topic keeping data for 400 days: longer than any bound allows."""
    topic = unique_name(f"{DELIVERY_PREFIX}doctor") + ".tax-residence"
    kafka_admin.create_topics([topic], config={"retention.ms": str(400 * 86_400_000)})
    yield topic
    kafka_admin.delete_topics([topic])


@pytest.fixture
def stray_acl(kafka_admin: KafkaAdmin) -> Iterator[Acl]:
    """An agency's ALLOW that no policy justifies."""
    acl = Acl(f"User:{unique_name('stray')}", Resource.TOPIC, unique_name("bus.x"), Operation.READ)
    kafka_admin.create_acls({acl})
    yield acl
    kafka_admin.delete_acls({acl})


def test_the_cli_names_drift_and_exits_1(
    kafka_broker: KafkaConnection, drifted_delivery_topic: str, stray_acl: Acl
) -> None:
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1, result.output
    assert f"{drifted_delivery_topic} retention.ms is {400 * 86_400_000}" in result.output
    assert f"not justified by the policy: {stray_acl.principal} READ TOPIC {stray_acl.name}" in (
        result.output
    )
    assert "problem(s) found" in result.output
    # The lab's broker speaks TLS on every listener, and its services are who they should be.
    assert "tls           ok" in result.output
    assert "services      ok" in result.output


def test_a_wildcard_principal_is_named(kafka_admin: KafkaAdmin) -> None:
    open_acl = Acl("User:*", Resource.TOPIC, unique_name("doctor-open"), Operation.READ)
    kafka_admin.create_acls({open_acl})
    try:
        # A new ACL reaches the broker's authorizer (which answers describe) a moment later.
        for _ in range(50):
            held = kafka_admin.describe_acls_of(None)
            if open_acl in held:
                break
            time.sleep(0.2)
        findings = check_open_principals(held)
    finally:
        kafka_admin.delete_acls({open_acl})
    assert any(open_acl.name in f.problem and "User:*" in f.problem for f in findings)


def test_tls_listeners_pass(operator: KafkaConnection) -> None:
    assert check_listeners(KafkaAdmin(operator)) == []


def test_certificates_expiring_within_the_window_are_named(operator: KafkaConnection) -> None:
    admin = KafkaAdmin(operator)
    assert check_certificates(admin, operator, timedelta(days=30)) == []
    # The lab's node certificate lasts about a year; a 400-day window catches it, and the CA
    # (five years) stays out of it.
    soon = check_certificates(admin, operator, timedelta(days=400))
    assert [f.problem.split(" expires")[0] for f in soon] == ["broker 1's certificate"]


def test_lag_is_counted_per_ingress_topic(
    operator: KafkaConnection, kafka_broker: KafkaConnection, kafka_admin: KafkaAdmin
) -> None:
    topic = unique_name(f"{INGRESS_PREFIX}doctor")
    kafka_admin.create_topics([topic], partitions=2)
    try:
        for i in range(5):
            asyncio.run(produce_one(kafka_broker, topic, f"e{i}".encode()))
        admin = KafkaAdmin(operator)
        assert enforcer_lag(admin, ENFORCER_GROUP)[topic] == 5
        named = [f for f in check_lag(admin, ENFORCER_GROUP, limit=4) if topic in f.problem]
        assert len(named) == 1
        assert "5 records behind" in named[0].problem
        assert not [f for f in check_lag(admin, ENFORCER_GROUP, limit=5) if topic in f.problem]
    finally:
        kafka_admin.delete_topics([topic])


def test_a_service_on_the_admin_credential_is_named(
    kafka_settings: KafkaSettings, kafka_broker: KafkaConnection, tmp_path: Path
) -> None:
    # The lab's own profiles: each service as itself, none a super user.
    assert check_service_profiles(kafka_settings.profiles_dir) == []
    # An enforcer given the broker admin's credential.
    for role in SERVICE_ROLES:
        source = load_profile(role, kafka_settings.profiles_dir / f"{role}.toml")
        connection = kafka_broker if role == "enforcer" else source
        write_profile(tmp_path / f"{role}.toml", connection, tmp_path / f"{role}.password")
    findings = check_service_profiles(tmp_path)
    assert [f.problem for f in findings] == [
        f"the enforcer connects as {kafka_broker.username} ({tmp_path / 'enforcer.toml'})"
    ]
