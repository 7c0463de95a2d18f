"""`bus back-office run`: bad input gets one clear line, never a traceback."""

import subprocess
import sys
from pathlib import Path


def bus(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from bus.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        check=False,
        env={"BUS_HOME": str(home), "PATH": "/usr/bin:/bin"},
    )


def test_an_agency_without_credentials_is_told_to_onboard(tmp_path: Path) -> None:
    result = bus("back-office", "run", "tax-by", home=tmp_path)
    assert result.returncode == 1
    assert "bus agency onboard tax-by" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_back_office_is_named_with_the_known_ones(tmp_path: Path) -> None:
    result = bus("back-office", "run", "tax-xx", home=tmp_path)
    assert result.returncode == 2
    assert "unknown back office 'tax-xx'" in result.stderr
    assert "tax-by" in result.stderr
