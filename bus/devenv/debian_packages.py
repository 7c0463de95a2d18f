"""Debian packages the lab installs when they are missing: PostgreSQL for the audit store, and the
tools the tests use (promtool from `prometheus`, headless Chromium and its WebDriver)."""

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence

from bus.errors import BusError, PrerequisiteMissingError

Say = Callable[[str], None]
# Tool the tests run → the Debian package that ships it.
TEST_TOOLS = {"promtool": "prometheus", "chromium": "chromium", "chromedriver": "chromium-driver"}


class PackageInstallError(BusError):
    """apt-get could not install a package the lab needs."""


def apt_install(packages: Sequence[str], say: Say = print) -> None:
    """`apt-get install` `packages` (without recommended extras) as root; PrerequisiteMissingError
    naming the command to run when this process is not root."""
    wanted = " ".join(packages)
    if os.geteuid() != 0:
        raise PrerequisiteMissingError(
            f"missing Debian package(s); install them: apt-get install {wanted}"
        )
    say(f"installing from Debian's packages: {wanted}")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
    ):
        # System packages, not personal data: their scripts must leave files the system's users
        # can read (the `bus` command itself runs with umask 077).
        done = subprocess.run(
            command, env=environment, capture_output=True, text=True, check=False, umask=0o022
        )
        if done.returncode != 0:
            raise PackageInstallError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")


def ensure_test_tools(say: Say = print) -> dict[str, str]:
    """The tools of TEST_TOOLS, installed first if any is missing; tool → its path."""
    missing = sorted({TEST_TOOLS[t] for t in TEST_TOOLS if shutil.which(t) is None})
    if missing:
        apt_install(missing, say)
    found = {tool: shutil.which(tool) for tool in TEST_TOOLS}
    absent = sorted(tool for tool, path in found.items() if path is None)
    if absent:
        raise PackageInstallError(
            f"installed {', '.join(missing)}, but {', '.join(absent)} is not on PATH"
        )
    return {tool: str(path) for tool, path in found.items()}
