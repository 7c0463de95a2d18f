"""deploy/systemd: a unit per service for a VM install, each as the dedicated user, restarted on
failure, with its own connection profile (its password in the profile's file, not in the unit),
hardened; each command line is one the `bus` command accepts. (`systemd-analyze verify` is not part of the
test: the project does not install systemd.)"""

import configparser
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bus.cli.main import app

SYSTEMD = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
UNITS = {
    "govbus-enforcer.service": "enforcer",
    "govbus-indexer.service": "audit-indexer",
    "govbus-audit-api.service": "audit-verifier",
    "govbus-operator-watch.service": "operator",
    "govbus-watch.service": "watch",
}
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "SystemCallFilter": "@system-service",
    "ReadWritePaths": "/var/lib/govbus",
    "Restart": "on-failure",
    "User": "govbus",
}


def service_section(name: str) -> dict[str, list[str]]:
    """The [Service] section's settings, each with every value it is given (in order)."""
    values: dict[str, list[str]] = {}
    section = None
    for raw in (SYSTEMD / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_there_is_a_unit_per_service() -> None:
    assert {p.name for p in SYSTEMD.glob("*.service")} == set(UNITS)


@pytest.mark.parametrize(("unit", "role"), sorted(UNITS.items()))
def test_each_unit_is_hardened_and_runs_its_role(unit: str, role: str) -> None:
    service = service_section(unit)
    for key, value in HARDENING.items():
        assert service.get(key) == [value], key
    env = dict(v.split("=", 1) for v in service["Environment"])
    assert env["BUS_PROFILE"] == f"/etc/govbus/{role}.toml"
    assert env["BUS_HOME"] == "/var/lib/govbus"
    # The password stays in the profile's password_file: never in the unit or its environment.
    assert not {"BUS_PASSWORD", "BUS_PASSWORD_FILE"} & set(env)
    assert not [v for vs in service.values() for v in vs if "PASSWORD=" in v.upper()]
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string((SYSTEMD / unit).read_text())
    assert parser["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_each_command_line_is_one_bus_accepts(unit: str) -> None:
    (command,) = service_section(unit)["ExecStart"]
    program, *args = shlex.split(command)
    assert program == "/opt/govbus/bin/bus"
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
