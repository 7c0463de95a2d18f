"""The operators' alert rules, checked by Prometheus's own promtool (Debian's `prometheus`
package, installed by `make test` through `bus lab tools`): the file is valid, and each rule
tested in deploy/prometheus/tests fires on the series that should fire it and not otherwise."""

import shutil
import subprocess
from pathlib import Path

import pytest

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is missing: run `.venv/bin/bus lab tools` (make test does)", pytrace=False
        )
    return path


def test_the_alert_rules_are_valid() -> None:
    done = subprocess.run(
        [promtool(), "check", "rules", str(PROMETHEUS / "alerts.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 17 rules found" in done.stdout


def test_the_rules_fire_as_their_unit_tests_expect() -> None:
    done = subprocess.run(
        [promtool(), "test", "rules", "alerts.test.yml"],
        cwd=PROMETHEUS / "tests",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_a_broken_rule_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text((PROMETHEUS / "alerts.yml").read_text().replace("> 10000", "> > 10000", 1))
    done = subprocess.run(
        [promtool(), "check", "rules", str(broken)], capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
