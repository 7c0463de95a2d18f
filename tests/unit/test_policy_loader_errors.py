"""Loader errors that a hand-edited policy set produces: duplicate keys, unquoted codes."""

import shutil
from pathlib import Path

import pytest

from bus.policy.errors import PolicyFileError
from bus.policy.loader import load_policy_set

REFERENCE = Path(__file__).resolve().parents[2] / "policies" / "reference"


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "set"
    shutil.copytree(REFERENCE, target)
    return target


def test_a_key_written_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    grants = directory / "grants.yaml"
    text = grants.read_text()
    grants.write_text(
        text.replace(
            "    purpose: tax-residence\n", "    purpose: tax-residence\n    purpose: other\n", 1
        )
    )
    with pytest.raises(PolicyFileError, match=r"grants\.yaml:\d+: key 'purpose' appears twice"):
        load_policy_set(directory)


def test_an_unquoted_code_gets_a_hint(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    territories = directory / "territories.yaml"
    territories.write_text(
        territories.read_text()
        .replace("'09162000'", "9162000", 1)
        .replace('"09162000"', "9162000", 1)
    )
    with pytest.raises(PolicyFileError, match="quote codes in YAML"):
        load_policy_set(directory)
