"""`bus enforce --duplicate-horizon-ids/--duplicate-horizon-days` set the DUPLICATE_EVENT horizon the
enforcer runs with (before, the defaults could not be changed)."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bus.cli import enforce as enforce_cli
from bus.cli.main import app
from bus.control.state_reading import StateTopics
from bus.enforcer import workers
from bus.enforcer.runtime import EnforcerConfig
from bus.enforcer.seen_journal import SeenEventsConfig
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import INGRESS_PREFIX, POLICY_TOPIC, SUBSCRIPTIONS_TOPIC
from bus.util.logs import LogFormat


def _config_of(args: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> EnforcerConfig:
    started: list[EnforcerConfig] = []

    async def run_enforcer(_connection: Any, config: EnforcerConfig, *_args: Any) -> None:
        started.append(config)

    monkeypatch.setenv("BUS_HOME", str(tmp_path))
    monkeypatch.setattr(workers, "run_enforcer", run_enforcer)
    profiles: list[str] = []

    def load_profile(role: str, _path: Path | None = None) -> KafkaConnection:
        profiles.append(role)
        return KafkaConnection("127.0.0.1:1", "bus-enforcer", "b")

    monkeypatch.setattr(enforce_cli, "load_profile", load_profile)
    result = CliRunner().invoke(app, ["enforce", "--metrics-port", "0", "--workers", "1", *args])
    assert result.exit_code == 0, result.output
    assert profiles == ["enforcer"]  # as its own principal, never the admin
    return started[0]


def test_the_horizon_defaults_to_100000_ids_and_7_days(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _config_of([], monkeypatch, tmp_path).duplicate_horizon == SeenEventsConfig(
        100_000, timedelta(days=7)
    )


def test_the_horizon_is_configurable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    args = ["--duplicate-horizon-ids", "2000000", "--duplicate-horizon-days", "30"]
    assert _config_of(args, monkeypatch, tmp_path).duplicate_horizon == SeenEventsConfig(
        2_000_000, timedelta(days=30)
    )


def test_bus_enforce_follows_the_bus_s_own_state_and_ingress_topics_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = _config_of([], monkeypatch, tmp_path)
    assert config.state_topics == StateTopics(POLICY_TOPIC, SUBSCRIPTIONS_TOPIC)
    assert config.ingress_prefix == INGRESS_PREFIX == "bus.ingress."


@pytest.mark.parametrize(
    "option", ["--policy-topic", "--subscriptions-topic"], ids=["policy", "subscriptions"]
)
@pytest.mark.parametrize(
    "topic",
    [
        "bus.deadletter.tax-by",
        "bus.ingress.population.AddressChanged",
        "bus.audit",
        "x.checkpoints",
    ],
)
def test_bus_enforce_refuses_a_state_topic_an_agency_could_write(
    option: str, topic: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A policy read from a topic an agency writes would be that agency's policy.
    monkeypatch.setenv("BUS_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["enforce", "--metrics-port", "0", option, topic])
    assert result.exit_code == 2, result.output
    assert "cannot hold the bus's policy or subscriptions" in " ".join(
        result.output.replace("│", " ").split()
    )


@pytest.mark.parametrize("group", ["bus-enforcer", "bus-enforcer-staging"])
def test_bus_enforce_runs_with_a_group_its_acls_cover(
    group: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _config_of(["--group", group], monkeypatch, tmp_path).group == group


@pytest.mark.parametrize("group", ["enforcer-2", "bus-enforcerX", "tax-by.enforcer"])
def test_bus_enforce_refuses_a_group_its_acls_do_not_cover(
    group: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BUS_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["enforce", "--metrics-port", "0", "--group", group])
    assert result.exit_code == 1, result.output
    assert "may use only the group bus-enforcer or bus-enforcer-<name>" in " ".join(
        result.output.split()
    )


def test_workers_are_named_by_host_and_number_with_a_metrics_port_each(tmp_path: Path) -> None:
    config = EnforcerConfig(policy_dir=None, key_dir=None, pseudonym_key_file=tmp_path / "k")
    connection = KafkaConnection("127.0.0.1:1", "bus-enforcer", "b")
    made = workers.workers(3, connection, config, 9464, LogFormat.JSON, 20, "host-a")
    assert [w.config.instance for w in made] == ["host-a.w0", "host-a.w1", "host-a.w2"]
    assert [w.metrics_port for w in made] == [9464, 9465, 9466]
    assert KafkaConnection.from_json_dict(made[1].connection) == connection
    assert [
        w.metrics_port for w in workers.workers(2, connection, config, 0, LogFormat.JSON, 20, "h")
    ] == [0, 0]


def test_an_instance_name_that_cannot_be_part_of_a_transactional_id_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BUS_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["enforce", "--metrics-port", "0", "--instance", "a b/c"])
    assert result.exit_code != 0
    assert "--instance 'a b/c'" in result.output
