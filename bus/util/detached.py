"""Start a long-running program (the broker) detached from its caller: its own session, its output
to a log file, no terminal, and none of the caller's file descriptors.

posix_spawn rather than Popen: the program is meant to outlive the caller, and a Popen object
would warn when collected while its child still runs. posix_spawn passes on every descriptor not
marked close-on-exec, and those the caller itself inherited (a lock a shell holds on fd 9 while it
runs `make demo`, make's jobserver pipes) are not: the program would hold them for its whole life.
So every descriptor above stderr is made close-on-exec first; in this process that only affects
what later programs it starts inherit, which is nothing it relies on.
"""

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

_FIRST_AFTER_STDERR = 3


def spawn_detached(
    program: str, argv: Sequence[str], log: Path, environment: Mapping[str, str] | None = None
) -> int:
    """Start `program` with `argv` in a session of its own, stdin from /dev/null, stdout and stderr
    appended to `log` (created 0600), no other descriptor of this process open in it; its pid."""
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        _close_on_exec_above_stderr()
        return os.posix_spawn(
            program,
            list(argv),
            dict(os.environ if environment is None else environment),
            setsid=True,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, out, 1),
                (os.POSIX_SPAWN_DUP2, out, 2),
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            ],
        )
    finally:
        os.close(out)


def _close_on_exec_above_stderr() -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd < _FIRST_AFTER_STDERR:
            continue
        try:
            os.set_inheritable(fd, False)
        except OSError:  # the directory's own descriptor, closed since the listing
            continue
