"""Broker settings: defaults, environment overrides and clear errors for bad values."""

from pathlib import Path

import pytest

from bus.devenv.broker_config import admin_password, render_server_properties
from bus.devenv.provision import pinned_kafka_version
from bus.errors import ConfigError
from bus.kafka.settings import load_kafka_settings


def test_defaults_leave_a_kafka_on_9092_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUS_KAFKA_PORT", raising=False)
    settings = load_kafka_settings()
    assert settings.port != 9092
    assert settings.bootstrap == f"127.0.0.1:{settings.port}"


def test_port_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUS_KAFKA_PORT", "29092")
    assert load_kafka_settings().port == 29092


@pytest.mark.parametrize(("value", "expected"), [("abc", "integer"), ("80", "greater than")])
def test_bad_port_names_the_variable_and_the_problem(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("BUS_KAFKA_PORT", value)
    with pytest.raises(ConfigError, match=rf"BUS_KAFKA_PORT: .*{expected}.*{value!r}"):
        load_kafka_settings()


def test_generated_admin_password_is_kept_private_and_reused(tmp_path: Path) -> None:
    settings = load_kafka_settings(state_dir=tmp_path)
    first = admin_password(settings)
    assert settings.password_file.stat().st_mode & 0o777 == 0o600
    assert admin_password(settings) == first
    assert len(first) >= 24


def test_unsafe_admin_password_is_rejected(tmp_path: Path) -> None:
    settings = load_kafka_settings(state_dir=tmp_path, admin_password='short"')
    with pytest.raises(ConfigError, match="BUS_KAFKA_ADMIN_PASSWORD"):
        admin_password(settings)


def test_server_properties_lock_the_broker_down(tmp_path: Path) -> None:
    settings = load_kafka_settings(state_dir=tmp_path, port=29092, controller_port=29093)
    path = render_server_properties(settings, "p" * 16)
    text = path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600
    assert "${" not in text
    lines = set(text.splitlines())
    assert "allow.everyone.if.no.acl.found=false" in lines
    assert f"super.users=User:{settings.admin_user}" in lines
    assert "listeners=CLIENT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093" in lines
    assert "listener.security.protocol.map=CLIENT:SASL_SSL,CONTROLLER:SASL_SSL" in lines
    assert "transaction.state.log.replication.factor=1" in lines


def test_kafka_version_is_pinned_in_the_pom() -> None:
    assert pinned_kafka_version().split(".")[0] == "4"
