"""`bus agency offboard ID`: afterwards the agency reads nothing (its credentials fail, and even
fresh credentials under its name are refused by the broker), its subscriptions are gone (audited),
the audit trail still holds its earlier decisions; again changes nothing; an unknown id is refused.
Through the CLI (synchronous, as a user runs it), on the real broker."""

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from typer.testing import CliRunner

from bus.audit.access import Role, TokenRefusedError, TokenRegistry, default_tokens_file
from bus.cli.main import app
from bus.control import offboarding, policy_store
from bus.control.acls import block_acls
from bus.control.credentials import (
    agency_profile_path,
    credentials_path,
    load_agency_profile,
    load_credentials,
)
from bus.control.offboarding import is_blocked
from bus.kafka.admin import Acl, KafkaAdmin, Operation, Resource
from bus.kafka.connection import KafkaConnection
from bus.kafka.settings import KafkaSettings
from bus.kafka.topics import AUDIT_TOPIC, delivery_topic
from tests.integration.test_acl_revocation import PURPOSE, TYPE, policy_with
from tests.support.kafka import (
    AuthorizationFailed,
    Principals,
    consume_one,
    eventually,
    produce_one,
    read_topic,
    unique_name,
)
from tests.support.operator_grants import operator_on
from tests.support.policy_sets import reference_with


@pytest.fixture
def own_home(
    tmp_path: Path, kafka_settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Agency credential files in a folder of this test's own; the broker's state stays shared."""
    monkeypatch.setenv("BUS_KAFKA_STATE_DIR", str(kafka_settings.state_dir))
    monkeypatch.setenv("BUS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def audit_of(connection: KafkaConnection, agency: str) -> list[dict[str, Any]]:
    records = asyncio.run(read_topic(connection, AUDIT_TOPIC, idle_s=1.0))
    decoded = []
    for record in records:
        try:  # the shared bus.audit may hold other tests' bytes
            decoded.append(json.loads(record.value))
        except ValueError:
            continue
    return [d for d in decoded if isinstance(d, dict) and d.get("consumer") == agency]


def test_an_offboarded_agency_reads_nothing_and_its_audit_trail_stays(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    principals: Principals,
    own_home: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    agency = principals.create("leaver").username  # cleaned up (ACLs, credentials) afterwards
    policy = policy_with(agency, tmp_path / "policy", producer=True)
    runner = CliRunner()

    def bus(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        return result.output

    onboarded = bus("agency", "onboard", agency, "--no-signing-key")
    # Its own connection profile, beside its password: its services load that, nothing else.
    assert f"connection profile: {agency_profile_path(agency)}" in onboarded
    own = load_agency_profile(agency)
    assert (own.username, own.password) == (agency, load_credentials(agency).password)
    assert own.bootstrap == kafka_broker.bootstrap
    bus(
        "subscribe",
        "--consumer",
        agency,
        "--event-type",
        TYPE,
        "--purpose",
        PURPOSE,
        "--policy",
        str(policy),
    )
    # An earlier decision about it: a subscription its grants do not cover, refused and audited.
    bus(
        "subscribe",
        "--consumer",
        agency,
        "--event-type",
        TYPE,
        "--purpose",
        "tax-death",
        "--policy",
        str(policy),
        code=1,
    )
    bus("acl", "sync", "--policy", str(policy))
    topic = delivery_topic(agency, PURPOSE)
    asyncio.run(produce_one(kafka_broker, topic, b"delivered before offboarding"))
    asyncio.run(eventually(lambda: consume_one(own, topic, group=f"{agency}.back-office")))

    dpo = TokenRegistry(default_tokens_file())
    dpo_token = dpo.issue(f"{agency}-dpo", Role.AGENCY_DPO, agency)
    auditor_token = dpo.issue(f"{agency}-auditor", Role.AUDITOR)

    done = bus("agency", "offboard", agency)
    assert f"auditor API token revoked: {agency}-dpo (agency-dpo)" in done
    with pytest.raises(TokenRefusedError, match="revoked"):
        dpo.authenticate(dpo_token, datetime.now(UTC))
    assert dpo.authenticate(auditor_token, datetime.now(UTC)).role is Role.AUDITOR
    assert f"offboarded {agency}" in done
    assert f"subscription removed (audited): {agency} × {TYPE} × {PURPOSE}" in done
    # As a consumer (with its erasures topic) and as a producer.
    assert done.count("ACL revoked:") == 5 + 4
    assert f"credentials revoked: SCRAM user '{agency}'" in done
    assert not credentials_path(agency).exists()
    assert f"connection profile removed: {agency_profile_path(agency)}" in done
    assert not agency_profile_path(agency).exists()
    assert "warning: the policy set in force" not in done  # the shared broker's set never named it
    again = bus("agency", "offboard", agency)
    assert f"{agency} was already offboarded: nothing left to remove" in again
    # A policy that still names it as a producer grants it nothing: the block stays, alone.
    synced = bus("acl", "sync", "--policy", str(policy))
    assert f"+ User:{agency} " not in synced
    assert all(not acl.allow for acl in kafka_admin.describe_acls_of(f"User:{agency}"))

    # Its own credentials no longer authenticate.
    with pytest.raises(KafkaConnectionError):
        asyncio.run(consume_one(own, topic, group=f"{agency}.back-office"))
    assert "SaslAuthenticationFailed" in caplog.text
    # Credentials made afresh under its name (say, restored by mistake) and an ALLOW granted by
    # hand (say, by a policy that still names it): the broker refuses all the same.
    kafka_admin.upsert_scram_user(agency, "fresh-password-123")
    fresh = kafka_broker.as_user(agency, "fresh-password-123")
    kafka_admin.create_acls(
        [
            Acl(f"User:{agency}", Resource.TOPIC, topic, Operation.READ),
            Acl(f"User:{agency}", Resource.GROUP, f"{agency}.", Operation.READ, prefixed=True),
        ]
    )
    with pytest.raises(AuthorizationFailed):
        asyncio.run(consume_one(fresh, topic, group=f"{agency}.back-office-2"))

    decisions = audit_of(kafka_broker, agency)
    assert [d["reasons"] for d in decisions if d["outcome"] == "SUBSCRIPTION_REFUSED"]
    removed = [d for d in decisions if d["outcome"] == "SUBSCRIPTION_REMOVED"]
    # Once, though offboarded twice.
    assert [(d["purpose"], d["reasons"]) for d in removed] == [(PURPOSE, ["AGENCY_OFFBOARDED"])]
    assert agency not in bus("subscriptions")

    readmitted = bus("agency", "onboard", agency, "--no-signing-key")
    assert f"re-admitted: the offboarding block on User:{agency} is lifted" in readmitted


def test_an_unknown_agency_is_refused(kafka_broker: KafkaConnection, own_home: Path) -> None:
    nobody = unique_name("nobody")
    result = CliRunner().invoke(app, ["agency", "offboard", nobody])
    assert result.exit_code == 1
    assert f"unknown agency '{nobody}'" in result.output


def test_offboarding_spares_a_principal_the_set_in_force_gives_another_agency(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    principals: Principals,
    own_home: Path,
    topic_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    """The leaver held User:<old>, then User:<alias>; the set in force gives it User:<leaver> and
    User:<alias> to another agency. Offboarding blocks and revokes the leaver's own principals,
    leaves the other agency's alone and says so; re-admission lifts every block it put."""
    leaver, old, alias = (principals.create(p) for p in ("leaver", "old", "alias"))
    holder = unique_name("holder")
    sets = [
        reference_with({leaver.username: f"User:{old.username}"}),
        reference_with({leaver.username: f"User:{alias.username}"}),
        reference_with(
            {leaver.username: f"User:{leaver.username}", holder: f"User:{alias.username}"}
        ),
    ]
    # Applied on a policy topic of the test's own: the shared broker's set in force stays.
    policy_topic = topic_factory("policy")
    for policy_set in sets:
        asyncio.run(policy_store.publish(kafka_broker, policy_set, policy_topic))
    # What the other agency does with its principal: write its own topic.
    its_topic = unique_name("holder-own")
    kafka_admin.create_topics([its_topic])
    kafka_admin.create_acls(
        [Acl(f"User:{alias.username}", Resource.TOPIC, its_topic, Operation.WRITE)]
    )
    tokens = TokenRegistry(tmp_path / "tokens.json")
    dpo_token = tokens.issue(f"{leaver.username}-dpo", Role.AGENCY_DPO, leaver.username)
    try:
        # Called as any program would: the DPO token is revoked by offboarding itself.
        done = asyncio.run(
            offboarding.offboard(
                kafka_broker, kafka_admin, tokens, leaver.username, datetime.now(UTC), policy_topic
            )
        )
        assert done.principals == tuple(sorted([f"User:{leaver.username}", f"User:{old.username}"]))
        assert done.spared == ((f"User:{alias.username}", holder),)
        assert done.dpo_tokens == (f"{leaver.username}-dpo",)
        with pytest.raises(TokenRefusedError, match="revoked"):
            tokens.authenticate(dpo_token, datetime.now(UTC))
        assert done.in_policy
        for principal in done.principals:
            assert block_acls(principal) <= kafka_admin.describe_acls_of(principal)
        assert is_blocked(kafka_admin, f"User:{old.username}")
        assert not is_blocked(kafka_admin, f"User:{alias.username}")
        # The other agency's credentials and access are untouched.
        asyncio.run(produce_one(alias, its_topic, b"still mine"))

        # The CLI runs as the operator: granted this test's own policy topic.
        with operator_on(kafka_admin, policy_topic):
            runner = CliRunner()
            own_policy = ["--policy-topic", policy_topic]
            again = runner.invoke(app, ["agency", "offboard", leaver.username, *own_policy])
            assert again.exit_code == 0, again.output
            assert (
                f"left alone: User:{alias.username}, an earlier policy set's principal for "
                f"{leaver.username}: the set in force gives it to {holder}"
            ) in again.output

            readmitted = runner.invoke(
                app, ["agency", "onboard", leaver.username, "--no-signing-key", *own_policy]
            )
            assert readmitted.exit_code == 0, readmitted.output
            for principal in done.principals:
                assert (
                    f"re-admitted: the offboarding block on {principal} is lifted"
                    in readmitted.output
                )
                assert not is_blocked(kafka_admin, principal)
    finally:
        kafka_admin.delete_topics([its_topic])
