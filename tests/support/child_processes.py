"""Child processes a test starts (enforcers, indexers, back offices, bridges), stopped whatever
happens to the test."""

import signal
import subprocess
from types import TracebackType
from typing import Self

GRACE_S = 30  # for a clean exit after SIGTERM, before SIGKILL


def stop(process: "subprocess.Popen[bytes]") -> None:
    """SIGTERM, and SIGKILL if it is still there after GRACE_S; then reap it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        _reap(process)


def _reap(process: "subprocess.Popen[bytes]") -> None:
    try:
        process.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ChildProcesses:
    """Every process `track`ed is stopped when the `with` block ends, also when the test fails
    midway. A child left running would go on working against the shared broker, and its `Popen`,
    garbage-collected during a later test, fails that test with a ResourceWarning ("subprocess …
    is still running": seen in CI after the enforcer crash test failed inside its kill loop)."""

    def __init__(self) -> None:
        self._tracked: list[subprocess.Popen[bytes]] = []

    def track(self, process: "subprocess.Popen[bytes]") -> "subprocess.Popen[bytes]":
        self._tracked.append(process)
        return process

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # All signalled first, so that they shut down side by side rather than one after another.
        running = [process for process in self._tracked if process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            _reap(process)
