"""The `bus` command turns the bus's own errors into one line and exit code 1."""

import subprocess
import sys


def test_bad_setting_gives_one_line_error_and_exit_1() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from bus.cli.main import main; main()", "kafka", "status"],
        capture_output=True,
        text=True,
        check=False,
        env={"BUS_KAFKA_PORT": "not-a-port", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: invalid broker setting: BUS_KAFKA_PORT")
    assert "Traceback" not in result.stderr


def test_help_lists_the_kafka_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from bus.cli.main import main; main()", "kafka", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("up", "down", "status", "provision", "reset"):
        assert command in result.stdout
