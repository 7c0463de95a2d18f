"""`bus acl sync --watch` as a real process, as the bus's operator (its lab profile)."""

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bus.control.state_reading import StateTopics
from bus.kafka.profile import default_profile_path

BUS = [sys.executable, "-c", "from bus.cli.main import main; main()"]


def watch_command(
    topics: StateTopics,
    ingress_prefix: str,
    policy_dir: Path | None = None,
    profile: Path | None = None,
) -> list[str]:
    """The operator's watch over the test's state topics and ingress prefix (as the operator of
    `profile`, by default the lab's)."""
    command = [
        *BUS,
        "acl",
        "sync",
        "--watch",
        "--profile",
        str(profile or default_profile_path("operator")),
        "--policy-topic",
        topics.policy,
        "--subscriptions-topic",
        topics.subscriptions,
        "--ingress-prefix",
        ingress_prefix,
        "--interval",
        "2",
        "--log-format",
        "text",
    ]
    return command + (["--policy", str(policy_dir)] if policy_dir is not None else [])


@asynccontextmanager
async def operator_watch(
    topics: StateTopics,
    ingress_prefix: str,
    log: Path,
    policy_dir: Path | None = None,
    profile: Path | None = None,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The watch running while inside (its output appended to `log`); on leaving, SIGTERM, and it
    must end cleanly (exit 0, "operator watch stopped") within 30 s."""
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            *watch_command(topics, ingress_prefix, policy_dir, profile),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
    ended_cleanly(code, log)


def ended_cleanly(code: int, log: Path) -> None:
    """The watch exited 0 after saying it stopped."""
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert "operator watch stopped" in output, output[-3000:]
