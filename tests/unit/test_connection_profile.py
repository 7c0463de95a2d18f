"""bus/kafka/profile.py: a connection profile from a file, from BUS_* variables, or both (the
variables win); each refusal names the file or the variables and the key."""

import re
from pathlib import Path

import pytest

from bus.errors import ConfigError
from bus.kafka.profile import load_profile

VARIABLES = (
    "BUS_PROFILE",
    "BUS_BOOTSTRAP_SERVERS",
    "BUS_PRINCIPAL",
    "BUS_PASSWORD",
    "BUS_PASSWORD_FILE",
    "BUS_SECURITY_PROTOCOL",
    "BUS_CA_FILE",
    "BUS_CLIENT_CERT_FILE",
    "BUS_CLIENT_KEY_FILE",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BUS_HOME", str(tmp_path / "home"))  # no lab profile to fall back on


PASSWORD = "s3cret"


def profile(folder: Path, body: str) -> Path:
    """A profile `body` in `folder`, with a 0600 password file p.password beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    secret = folder / "p.password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    path = folder / "p.toml"
    path.write_text(body)
    return path


BASE = 'bootstrap_servers = ["a:9093", "b:9093"]\nprincipal = "bus-operator"\n'


def test_a_file_alone(tmp_path: Path) -> None:
    path = profile(tmp_path, BASE + 'password_file = "p.password"\n')
    connection = load_profile("operator", path)
    assert connection.bootstrap_servers == ["a:9093", "b:9093"]
    assert (connection.username, connection.password) == ("bus-operator", "s3cret")
    assert connection.security_protocol == "SASL_SSL"


def test_variables_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUS_BOOTSTRAP_SERVERS", "a:9093, b:9093,")
    monkeypatch.setenv("BUS_PRINCIPAL", "User:bus-enforcer")
    monkeypatch.setenv("BUS_PASSWORD", "pw")
    monkeypatch.setenv("BUS_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    connection = load_profile("enforcer")
    assert connection.bootstrap_servers == ["a:9093", "b:9093"]
    assert (connection.username, connection.password) == ("bus-enforcer", "pw")


def test_variables_override_the_file_and_bus_profile_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = profile(tmp_path, BASE + 'password_file = "p.password"\n')
    monkeypatch.setenv("BUS_PROFILE", str(path))
    monkeypatch.setenv("BUS_BOOTSTRAP_SERVERS", "c:9093")
    connection = load_profile("operator")
    assert connection.bootstrap_servers == ["c:9093"]
    assert connection.username == "bus-operator"


def test_relative_paths_are_relative_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = profile(tmp_path / "deep", BASE + 'password_file = "p.password"\n')
    monkeypatch.chdir(tmp_path)  # not the profile's folder
    assert load_profile("operator", path).password == "s3cret"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=f"{re.escape(str(missing))}: no such connection profile"):
        load_profile("operator", missing)


def test_no_profile_at_all_names_the_role_and_the_default(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"no connection profile for the operator: .*operator\.toml"
    ):
        load_profile("operator")


def test_an_unknown_key_is_named(tmp_path: Path) -> None:
    path = profile(tmp_path, BASE + 'password_file = "p.password"\nbootstrap = "x:1"\n')
    with pytest.raises(
        ConfigError, match=f"{re.escape(str(path))}: invalid connection profile: bootstrap"
    ):
        load_profile("operator", path)


@pytest.mark.parametrize(
    "extra", ['password_file = "p.password"\npassword = "x"\n', ""], ids=["both", "neither"]
)
def test_exactly_one_password(tmp_path: Path, extra: str) -> None:
    path = profile(tmp_path, BASE + extra)
    with pytest.raises(ConfigError, match=f"{re.escape(str(path))}: .*password_file .*password"):
        load_profile("operator", path)


def test_a_password_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = profile(tmp_path, BASE + 'password_file = "p.password"\n')
    (tmp_path / "p.password").chmod(0o644)
    with pytest.raises(
        ConfigError, match=f"{re.escape(str(path))}: password_file .* is open to other users"
    ):
        load_profile("operator", path)


def test_a_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    body = BASE + 'password_file = "p.password"\nclient_cert_file = "c.pem"\n'
    path = profile(tmp_path, body)
    with pytest.raises(
        ConfigError, match=f"{re.escape(str(path))}: .*client_cert_file and client_key_file"
    ):
        load_profile("operator", path)


def test_a_ca_file_without_tls_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = profile(
        tmp_path,
        BASE
        + 'password_file = "p.password"\nsecurity_protocol = "SASL_PLAINTEXT"\nca_file = "ca.pem"\n',
    )
    with pytest.raises(ConfigError, match=f"{re.escape(str(path))}: .*ca_file .*SASL_SSL"):
        load_profile("operator", path)


def test_a_bad_bootstrap_variable_names_the_variables_and_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BUS_BOOTSTRAP_SERVERS", "no-port")
    monkeypatch.setenv("BUS_PRINCIPAL", "x")
    monkeypatch.setenv("BUS_PASSWORD", "pw")
    with pytest.raises(ConfigError, match=r"BUS_\* variables: .*bootstrap_servers"):
        load_profile("operator")


def test_an_empty_bootstrap_list_is_refused(tmp_path: Path) -> None:
    path = profile(
        tmp_path, 'bootstrap_servers = []\nprincipal = "x"\npassword_file = "p.password"\n'
    )
    with pytest.raises(ConfigError, match=f"{re.escape(str(path))}: .*bootstrap_servers"):
        load_profile("operator", path)
