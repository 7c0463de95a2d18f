"""The agency's connection profile `bus agency onboard` writes: the operator's way to the bus
(bootstrap servers, TLS and CA), never its client certificate; the agency's own principal and
password file, beside which it lives; loaded by the agency's processes."""

from pathlib import Path

import pytest

from bus.control.credentials import (
    Credentials,
    agency_profile_path,
    credentials_path,
    load_agency_profile,
    write_agency_profile,
)
from bus.errors import ConfigError
from bus.kafka.connection import KafkaConnection


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BUS_HOME", str(tmp_path / "home"))
    for name in ("BUS_PROFILE", "BUS_BOOTSTRAP_SERVERS", "BUS_PASSWORD", "BUS_PRINCIPAL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def test_the_agency_gets_the_operators_way_in_under_its_own_name(tmp_path: Path) -> None:
    pems = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for pem in pems.values():
        pem.write_text("-----BEGIN X-----\n")
    operator = KafkaConnection(
        "a:9093,b:9093",
        "bus-operator",
        "op-secret",
        "SASL_SSL",
        pems["ca"],
        pems["cert"],
        pems["key"],
    )
    path = write_agency_profile(operator, Credentials("tax-by", "its-own"))
    assert path == agency_profile_path("tax-by")
    assert path.parent == credentials_path("tax-by").parent  # beside its password
    assert path.stat().st_mode & 0o777 == 0o600
    assert "op-secret" not in path.read_text()
    own = load_agency_profile("tax-by")
    assert (own.username, own.password) == ("tax-by", "its-own")
    assert own.bootstrap_servers == ["a:9093", "b:9093"]
    assert (own.security_protocol, own.ca_file) == ("SASL_SSL", pems["ca"])
    assert (own.client_cert_file, own.client_key_file) == (None, None)


def test_an_agency_without_a_profile_is_told_to_onboard() -> None:
    with pytest.raises(
        ConfigError, match=r"no connection profile for 'tax-by'; run `bus agency onboard tax-by`"
    ):
        load_agency_profile("tax-by")


def test_an_agency_never_loads_a_services_profile(home: Path) -> None:
    # An agency named like a service role still gets its own file, not the service's.
    assert agency_profile_path("enforcer") != home / "kafka" / "profiles" / "enforcer.toml"
    assert agency_profile_path("enforcer").parent == home / "agencies"
