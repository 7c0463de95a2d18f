"""One node's process of the lab's KRaft cluster: its pid, its start (detached from the caller) and
its end. A node is a combined broker and controller; bus/devenv/broker.py starts and stops them all.
"""

import os
import signal
import time
from pathlib import Path

from bus.devenv.broker_config import LOG4J_CONFIG
from bus.kafka.settings import KafkaSettings
from bus.util.detached import spawn_detached
from bus.util.private_files import private_umask, write_private


def node_log_file(settings: KafkaSettings, node_id: int) -> Path:
    """Node `node_id`'s own log, where its start failures are explained."""
    return settings.node_log_dir(node_id) / "server.log"


def node_pid(settings: KafkaSettings, node_id: int) -> int | None:
    """The pid in node `node_id`'s pid file if that process is alive and is a Kafka broker."""
    try:
        pid = int(settings.node_pid_file(node_id).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"kafka.Kafka" in cmdline else None


def spawn_node(
    settings: KafkaSettings, node_id: int, java: str, classpath: str, config: Path
) -> int:
    """Start node `node_id`'s JVM in a session of its own, holding none of this process's
    descriptors (a lock its caller holds stays the caller's); write its pid file; its pid."""
    log_dir = settings.node_log_dir(node_id)
    command = [
        java,
        f"-Xmx{settings.heap}",
        f"-Xms{settings.heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={log_dir}",
        "-cp",
        classpath,
        "kafka.Kafka",
        str(config),
    ]
    with private_umask():  # the child inherits it: segments and logs it creates are private
        pid = spawn_detached(java, command, log_dir / "stdout.log")
    write_private(settings.node_pid_file(node_id), f"{pid}\n")
    return pid


def signal_node(settings: KafkaSettings, node_id: int, signum: signal.Signals) -> int | None:
    """Send `signum` to node `node_id` if it runs; its pid, or None if it did not run."""
    pid = node_pid(settings, node_id)
    if pid is not None:
        os.kill(pid, signum)
    return pid


def wait_for_exit(settings: KafkaSettings, pids: dict[int, int], timeout_s: float) -> None:
    """Wait until the nodes `pids` (node id → pid) have exited, SIGKILL those still running after
    `timeout_s`, reap those this process started and remove their pid files."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(node_pid(settings, node_id) for node_id in pids):
        for pid in pids.values():
            child_alive(pid)
        time.sleep(0.2)
    for node_id, pid in pids.items():
        if node_pid(settings, node_id) is not None:
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid)
        child_alive(pid)
        settings.node_pid_file(node_id).unlink(missing_ok=True)


def child_alive(pid: int) -> bool:
    """True while our child `pid` runs; reaps it once it has exited. False for a non-child."""
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return False


def _wait_gone(pid: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child_alive(pid) and not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.05)
