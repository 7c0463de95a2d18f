"""The thresholds file: the reference one loads; a wrong one is refused naming file, line, key."""

from pathlib import Path

import pytest

from bus.errors import ConfigError
from bus.util.paths import PROJECT_ROOT
from bus.watch.thresholds import load_thresholds

REFERENCE = PROJECT_ROOT / "policies" / "reference" / "watch.yaml"


def test_the_reference_file_loads() -> None:
    thresholds = load_thresholds(REFERENCE)
    assert thresholds.bulk_release.factor == 5
    assert thresholds.silent_producer.silence_seconds == 3600


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("  factor: 5\n", "  factor: 0.5\n"),
            r"watch.yaml:\d+: bulk_release.factor: .*greater than 1",
        ),
        (("  floor: 500\n", "  floor: 500\n  flor: 3\n"), r"bulk_release.flor: Extra inputs"),
        (("  max_consumers: 5\n", ""), r"person_spread.max_consumers: Field required"),
        (("  window_seconds: 3600\n", "  window_seconds: hourly\n"), r"got 'hourly'"),
    ],
)
def test_a_wrong_value_is_refused_naming_file_line_and_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = tmp_path / "watch.yaml"
    path.write_text(REFERENCE.read_text().replace(*change, 1))
    with pytest.raises(ConfigError, match=message) as caught:
        load_thresholds(path)
    assert str(caught.value).startswith(str(path))
    assert "policies/reference/watch.yaml" in str(caught.value)


def test_a_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing; copy policies/reference/watch\.yaml"):
        load_thresholds(tmp_path / "nope.yaml")


def test_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "watch.yaml"
    path.write_text(REFERENCE.read_text() + "\nprobing:\n  floor: 1\n")
    with pytest.raises(ConfigError, match="appears twice"):
        load_thresholds(path)
