"""A program started detached (the broker) holds none of its caller's descriptors: a lock the
calling shell held while running `make demo` must not stay held for the broker's whole life."""

import fcntl
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.util.detached import spawn_detached


@pytest.fixture
def inherited_lock(tmp_path: Path) -> Iterator[Path]:
    """A locked file on an inheritable descriptor, as a shell's `flock 9` leaves one."""
    lock = tmp_path / "make.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.set_inheritable(fd, True)
    yield lock
    os.close(fd)


def _open_files(pid: int) -> set[str]:
    fds = Path(f"/proc/{pid}/fd")
    return {os.readlink(fds / name) for name in os.listdir(fds)}


def test_the_program_holds_no_descriptor_of_its_caller(
    inherited_lock: Path, tmp_path: Path
) -> None:
    log = tmp_path / "out.log"
    pid = spawn_detached("/bin/sh", ["sh", "-c", "echo started; exec sleep 30"], log)
    try:
        for _ in range(100):  # until the shell has exec'd sleep (its fds are then final)
            if log.exists() and "started" in log.read_text():
                break
            time.sleep(0.05)
        files = _open_files(pid)
        assert str(inherited_lock) not in files
        assert files == {"/dev/null", str(log)}  # stdin; stdout and stderr; nothing else
        assert os.getsid(pid) == pid  # a session of its own: the terminal's Ctrl-C misses it
        assert log.stat().st_mode & 0o777 == 0o600
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
