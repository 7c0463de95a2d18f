"""`bus policy apply`: a valid, approved set is published and read back; a set with errors is
refused and the set in force stays. On a policy topic of the test's own (--policy-topic), so that
the shared broker's set in force is not replaced. (Approvals themselves: test_policy_approvals.py.)"""

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from bus.cli.main import app
from bus.control import policy_store
from bus.demo.approvers import DemoApprovers
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import compile_snapshot
from tests.support.approvals import enrolled_reference, sign_as
from tests.support.kafka import unique_name
from tests.support.operator_grants import operator_on

REFERENCE = Path(__file__).resolve().parents[2] / "policies" / "reference"


def test_apply_publishes_valid_sets_and_refuses_broken_ones(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    topic_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    # Synchronous on purpose: the CLI runs its own event loop, as it does for a user.
    runner = CliRunner()
    topic = topic_factory("policy")
    with operator_on(kafka_admin, topic):  # `bus policy apply` runs as the operator
        _apply_valid_and_broken(runner, kafka_broker, topic, tmp_path)


def _apply_valid_and_broken(
    runner: CliRunner, kafka_broker: KafkaConnection, topic: str, tmp_path: Path
) -> None:
    reference = enrolled_reference(tmp_path / "reference", DemoApprovers(tmp_path / "keys"))
    sign_as(reference, DemoApprovers(tmp_path / "keys"), None)  # the first set: its own rules
    applied = runner.invoke(app, ["policy", "apply", str(reference), "--policy-topic", topic])
    assert applied.exit_code == 0, applied.output
    expected = compile_snapshot(load_policy_set(reference)).hash
    assert expected in applied.output
    in_force = asyncio.run(policy_store.latest(kafka_broker, topic))
    assert in_force is not None
    assert compile_snapshot(in_force).hash == expected

    broken = tmp_path / "broken"
    shutil.copytree(reference, broken)
    grants = broken / "grants.yaml"
    grants.write_text(
        grants.read_text().replace("consumer: tax-by\n", "consumer: no-such-agency\n", 1)
    )
    refused = runner.invoke(app, ["policy", "apply", str(broken), "--policy-topic", topic])
    assert refused.exit_code == 1
    assert "the policy set in force stays" in refused.output
    still = asyncio.run(policy_store.latest(kafka_broker, topic))
    assert still is not None
    assert compile_snapshot(still).hash == expected


def test_apply_to_a_policy_topic_that_does_not_exist_is_refused_and_creates_nothing(
    kafka_admin: KafkaAdmin,
) -> None:
    # A typo must not start an empty policy topic beside the real one: the bus creates only its
    # own bus.policy, and another name must exist already.
    missing = unique_name("no-such-policy-topic")
    result = CliRunner().invoke(app, ["policy", "apply", str(REFERENCE), "--policy-topic", missing])
    said = result.output + (str(result.exception) if result.exception else "")
    assert result.exit_code == 1, said
    assert f"the topic '{missing}' does not exist" in said
    assert missing not in kafka_admin.list_topics()
