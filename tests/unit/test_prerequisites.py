"""Missing or old Java and a missing Maven get one line that says what to install."""

from pathlib import Path

import pytest

from bus.devenv.prerequisites import java_major_version, require_java, require_maven
from bus.errors import PrerequisiteMissingError


def _fake_java(tmp_path: Path, version_line: str) -> Path:
    java = tmp_path / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(0o755)
    return java


@pytest.mark.parametrize(
    ("line", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_402"', 8),
        ('openjdk version "21" 2023-09-19', 21),
    ],
)
def test_java_version_is_read_from_its_banner(tmp_path: Path, line: str, major: int) -> None:
    assert java_major_version(str(_fake_java(tmp_path, line))) == major


def test_old_java_is_refused_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_java(tmp_path, 'java version "1.8.0_402"')
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PrerequisiteMissingError, match=r"Java 8 found .* needs Java 17\+"):
        require_java()


def test_missing_java_and_maven_say_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PrerequisiteMissingError, match="install a JDK or JRE 17") as java_error:
        require_java()
    with pytest.raises(PrerequisiteMissingError, match="install it") as maven_error:
        require_maven()
    assert "\n" not in str(java_error.value) + str(maven_error.value)
