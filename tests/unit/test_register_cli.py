"""`bus register-adapter run` fails with one clear line when the agency's key or credentials are
missing (before it ever reaches the broker)."""

import subprocess
import sys
from pathlib import Path

from bus.keys import AgencySigningKey


def run_cli(home: Path, inbox: Path) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from bus.cli.main import main; main()",
            "register-adapter",
            "run",
            "--agency",
            "muni-test",
            "--inbox",
            str(inbox),
            "--once",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"BUS_HOME": str(home), "PATH": "/usr/bin:/bin"},
    )


def test_a_missing_key_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "home", tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "muni-test.key.pem: not a readable PEM private key" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_credentials_say_how_to_get_them(tmp_path: Path) -> None:
    private = tmp_path / "home" / "keys" / "private"
    private.mkdir(parents=True)
    (private / "muni-test.key.pem").write_bytes(
        AgencySigningKey.generate("muni-test").private_pem()
    )
    result = run_cli(tmp_path / "home", tmp_path)
    assert result.returncode == 1
    assert "no connection profile for 'muni-test'; run `bus agency onboard muni-test`" in (
        result.stderr
    )


def test_help_names_the_run_command_and_its_options() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bus.cli.main import main; main()",
            "register-adapter",
            "run",
            "--help",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    for option in ("--agency", "--inbox", "--once", "--chunk-size"):
        assert option in result.stdout
