"""`bus acl export` and `bus topics export` (bus/cli/strimzi_export.py), offline: what they print
is the generators' output for the policy directory and subscriptions given."""

import time
from pathlib import Path

import typer
import yaml
from typer.testing import CliRunner

from bus.cli.strimzi_export import acl_export, topics_export
from bus.control.retention import RetentionSettings
from bus.control.strimzi.state import every_grant
from bus.control.strimzi.topics import kafka_topics
from bus.control.strimzi.users import kafka_users
from bus.policy.facts import Subscription
from bus.policy.snapshot import compile_snapshot
from tests.support.policy_sets import REFERENCE

POLICY = Path(__file__).resolve().parents[2] / "policies" / "reference"
SNAPSHOT = compile_snapshot(REFERENCE)

app = typer.Typer()
app.command("acl-export")(acl_export)
app.command("topics-export")(topics_export)
runner = CliRunner()


def test_acl_export_strimzi_prints_the_kafka_users() -> None:
    result = runner.invoke(
        app, ["acl-export", "--strimzi", "--policy", str(POLICY), "--every-grant"]
    )
    assert result.exit_code == 0, result.output
    printed = list(yaml.safe_load_all(result.stdout))
    assert printed == kafka_users(SNAPSHOT, every_grant(SNAPSHOT), time.time())


def test_subscriptions_from_a_file_and_output_to_a_file(tmp_path: Path) -> None:
    listed = tmp_path / "subscriptions.yaml"
    one = Subscription("tax-by", "population.AddressChanged", "tax-residence")
    listed.write_text(
        "subscriptions:\n"
        f"  - {{consumer: {one.consumer}, event_type: {one.event_type}, purpose: {one.purpose}}}\n"
    )
    out = tmp_path / "users.yaml"
    args = ["--strimzi", "--policy", str(POLICY), "--subscriptions", str(listed), "-o", str(out)]
    result = runner.invoke(app, ["acl-export", *args, "--cluster", "prod"])
    assert result.exit_code == 0, result.output
    assert list(yaml.safe_load_all(out.read_text())) == kafka_users(
        SNAPSHOT, {one}, time.time(), "prod"
    )


def test_topics_export_strimzi_prints_the_kafka_topics() -> None:
    result = runner.invoke(
        app, ["topics-export", "--strimzi", "--policy", str(POLICY), "--every-grant"]
    )
    assert result.exit_code == 0, result.output
    printed = list(yaml.safe_load_all(result.stdout))
    assert printed == kafka_topics(SNAPSHOT, every_grant(SNAPSHOT), RetentionSettings())


def test_plain_lines_without_strimzi() -> None:
    result = runner.invoke(app, ["acl-export", "--policy", str(POLICY), "--every-grant"])
    assert result.exit_code == 0, result.output
    assert "User:bus-enforcer WRITE TOPIC bus.audit" in result.stdout.splitlines()
    result = runner.invoke(
        app, ["topics-export", "--policy", str(POLICY), "--every-grant", "--brokers", "1"]
    )
    assert result.exit_code == 0, result.output
    audit = next(line for line in result.stdout.splitlines() if line.startswith("bus.audit "))
    assert audit == (
        "bus.audit partitions=6 replicas=1 min.insync.replicas=1 retention.bytes=-1 retention.ms=-1"
    )


def test_a_bad_subscriptions_file_is_refused(tmp_path: Path) -> None:
    listed = tmp_path / "subscriptions.yaml"
    listed.write_text("subscriptions:\n  - {consumer: tax-by}\n")
    result = runner.invoke(
        app, ["acl-export", "--policy", str(POLICY), "--subscriptions", str(listed)]
    )
    assert result.exit_code != 0
    assert "event_type" in str(result.exception)


def test_a_bad_cluster_name_or_output_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    # No --policy: the bus would be read next; the option is refused first, naming itself.
    for args in (["--cluster", "Tax_BY"], ["--output", str(tmp_path)], ["-o", f"{tmp_path}/x/y"]):
        result = runner.invoke(app, ["acl-export", "--strimzi", *args])
        assert result.exit_code == 2, (args, result.output)
        assert "--cluster" in result.output or "--output" in result.output
