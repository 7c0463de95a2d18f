"""Child processes a test starts (enforcers, indexers, back offices, bridges), stopped whatever
happens to the test."""

import signal
import subprocess
from types import TracebackType
from typing import Self


def stop(process: "subprocess.Popen[bytes]") -> None:
    """SIGTERM, and SIGKILL if it is still there after 30 s; then reap it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
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
        for process in self._tracked:
            stop(process)
