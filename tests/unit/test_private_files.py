"""Tightening modes: group and world lose access to what the project owns, and nothing else."""

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.errors import ConfigError
from bus.util.paths import PROJECT_ROOT
from bus.util.private_files import (
    create_private_file,
    make_private_dir,
    tighten,
    tighten_tree,
    write_private,
)


@pytest.fixture(autouse=True)
def lax_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_new_files_and_directories_are_private_from_the_first_byte(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    database = tmp_path / "a" / "b" / "office.db"
    create_private_file(database)
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", database)] == [
        0o700,
        0o700,
        0o600,
    ]
    # The caller's own directory (it may be a shared one) is left as it is.
    assert mode(tmp_path) == 0o755


def test_tightening_removes_only_group_and_world_access(tmp_path: Path) -> None:
    state = tmp_path / "var"
    state.mkdir(mode=0o755)
    (state / "data").mkdir(mode=0o755)
    (state / "data" / "segment.log").write_text("P-1234-5678")
    (state / "data" / "segment.log").chmod(0o644)
    (state / "copy.db").write_text("")
    (state / "copy.db").chmod(0o444)
    tighten_tree(state)
    assert [mode(state), mode(state / "data"), mode(state / "data" / "segment.log")] == [
        0o700,
        0o700,
        0o600,
    ]
    assert mode(state / "copy.db") == 0o400  # read-only stays read-only


def test_what_others_own_or_links_point_to_is_left_alone(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("")
    outside.chmod(0o644)
    state = tmp_path / "var"
    make_private_dir(state)
    (state / "link").symlink_to(outside)
    tighten_tree(state)
    assert mode(outside) == 0o644
    if os.geteuid() == 0:  # only root can hand a file to another user
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o755)
        os.chown(theirs, 65534, 65534)
        tighten(theirs)
        assert mode(theirs) == 0o755


def bus_help(home: str, cwd: Path) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [sys.executable, "-c", "from bus.cli.main import main; main()", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={"BUS_HOME": home, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT)},
    )


def test_the_bus_command_closes_only_a_state_directory_it_can_reach(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    # Empty means unset (var/ in the clone), never the directory the command runs in.
    assert bus_help("", tmp_path).returncode == 0
    assert mode(tmp_path) == 0o755
    # A state directory that cannot exist: the command runs, no traceback.
    unreachable = bus_help(str(tmp_path / "file" / "var"), tmp_path)
    (tmp_path / "file").write_text("")
    blocked = bus_help(str(tmp_path / "file" / "var"), tmp_path)
    for result in (unreachable, blocked):
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr


def test_a_secret_never_lands_in_a_file_others_can_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An earlier 0644 file is replaced, never written to: the new text is readable only in a 0600
    file until it takes the name (readers, even by another link, see the old text or the new)."""
    target = tmp_path / "server.properties"
    target.write_text("old=1\n")
    target.chmod(0o644)
    other_name = tmp_path / "hard-link"
    os.link(target, other_name)  # what someone who opened the old file holds
    seen: list[tuple[int, str, str]] = []
    real_replace = os.replace

    def replace(source: str | Path, destination: str | Path) -> None:
        seen.append((mode(Path(source)), Path(source).read_text(), target.read_text()))
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    write_private(target, "password=secret\n")
    assert seen == [(0o600, "password=secret\n", "old=1\n")]
    assert (mode(target), target.read_text()) == (0o600, "password=secret\n")
    assert (mode(other_name), other_name.read_text()) == (0o644, "old=1\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard-link", "server.properties"]


def test_a_symlink_is_refused_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("theirs")
    outside.chmod(0o644)
    link = tmp_path / "state" / "password"
    link.parent.mkdir()
    link.symlink_to(outside)
    with pytest.raises(ConfigError, match="is a symbolic link"):
        write_private(link, "secret\n")
    assert (outside.read_text(), mode(outside)) == ("theirs", 0o644)
    assert link.is_symlink()
    assert sorted(p.name for p in link.parent.iterdir()) == ["password"]  # no draft left
