"""Lifecycle of the local single-node KRaft broker: format, start, wait until it answers, stop.

The broker's data (every event, with its personal data) and logs are its owner's alone: the state
directory and everything in it are 0700/0600 (tightened at each start, for an install an earlier
version left open), and the JVM runs with umask 077, so what it creates later is private too.
"""

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bus.devenv.broker_config import LOG4J_CONFIG, admin_password, render_server_properties
from bus.devenv.certs import ca_cert_path, ensure_certificates
from bus.devenv.prerequisites import require_java
from bus.devenv.probe import ClusterInfo, metadata, port_open
from bus.devenv.provision import pinned_kafka_version, provision_jars
from bus.devenv.service_accounts import provision_service_accounts
from bus.errors import BrokerError
from bus.kafka.connection import KafkaConnection
from bus.kafka.settings import KafkaSettings
from bus.util.detached import spawn_detached
from bus.util.private_files import (
    PRIVATE_UMASK,
    make_private_dir,
    private_umask,
    tighten,
    tighten_tree,
    write_private,
)

Say = Callable[[str], None]
# A starting broker may refuse logins briefly until its metadata is loaded; past this, it is final.
_AUTH_GRACE_S = 15.0


@dataclass(frozen=True)
class BrokerStatus:
    """The local broker as `status` finds it; `cluster` is None unless it runs and answers the
    admin."""

    running: bool
    pid: int | None
    bootstrap: str
    version: str
    log_file: Path
    cluster: ClusterInfo | None


def admin_connection(settings: KafkaSettings) -> KafkaConnection:
    """The bus admin principal (the broker's only super user), over TLS trusting the lab CA unless
    TLS is off (BUS_KAFKA_TLS=0)."""
    return KafkaConnection(
        settings.bootstrap,
        settings.admin_user,
        admin_password(settings),
        security_protocol=settings.security_protocol,
        ca_file=ca_cert_path(settings) if settings.tls else None,
    )


def log_file(settings: KafkaSettings) -> Path:
    """The broker's own log, where start failures are explained."""
    return settings.log_dir / "server.log"


def broker_pid(settings: KafkaSettings) -> int | None:
    """The pid in the pid file if that process is alive and is a Kafka broker, else None."""
    try:
        pid = int(settings.pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"kafka.Kafka" in cmdline else None


def status(settings: KafkaSettings) -> BrokerStatus:
    """Whether the broker runs and answers the admin, where it listens and where it logs."""
    pid = broker_pid(settings)
    cluster = metadata(admin_connection(settings), timeout_s=5) if pid else None
    return BrokerStatus(
        running=pid is not None,
        pid=pid,
        bootstrap=settings.bootstrap,
        version=pinned_kafka_version(),
        log_file=log_file(settings),
        cluster=cluster,
    )


def up(settings: KafkaSettings, say: Say = print) -> BrokerStatus:
    """Start the broker unless it runs already; return once it answers an authenticated request,
    with each of the bus's services given its user, ACLs and connection profile."""
    _close_state_dir(settings)
    if broker_pid(settings) is None:
        pid = _start(settings, say)
        _wait_until_answering(settings, alive=lambda: _child_alive(pid))
    else:
        _wait_until_answering(settings, alive=lambda: broker_pid(settings) is not None)
    provision_service_accounts(admin_connection(settings), settings.profiles_dir)
    return status(settings)


def down(settings: KafkaSettings, timeout_s: float = 60.0) -> bool:
    """Stop the broker (SIGTERM, then SIGKILL after the timeout). False if none was running."""
    pid = broker_pid(settings)
    if pid is None:
        settings.pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while broker_pid(settings) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    if broker_pid(settings) is not None:
        os.kill(pid, signal.SIGKILL)
    _child_alive(pid)  # reaps it if this process started it
    settings.pid_file.unlink(missing_ok=True)
    return True


def _child_alive(pid: int) -> bool:
    """True while our child `pid` runs; reaps it once it has exited. False for a non-child."""
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return False


def reset(settings: KafkaSettings) -> None:
    """Stop the broker and delete its data, logs and generated credentials."""
    down(settings)
    shutil.rmtree(settings.state_dir, ignore_errors=True)


def _start(settings: KafkaSettings, say: Say) -> int:
    java = require_java()
    if port_open(settings.host, settings.port) or port_open(
        settings.host, settings.controller_port
    ):
        raise BrokerError(
            f"port {settings.port} or {settings.controller_port} on {settings.host} is taken by another"
            " process; stop it or choose free ports with BUS_KAFKA_PORT and BUS_KAFKA_CONTROLLER_PORT"
        )
    libs = provision_jars(settings)
    password = admin_password(settings)
    if settings.tls:
        ca, nodes = ensure_certificates(settings)
        for made in (ca, *(node.certificate for node in nodes)):
            if made.created:
                say(f"made {made.path} ({made.subject}), valid until {made.not_after:%Y-%m-%d}")
    config = render_server_properties(settings, password)
    tighten_tree(settings.state_dir)  # what an earlier version's broker wrote open to others
    classpath = f"{libs}/*"
    if not (settings.data_dir / "meta.properties").exists():
        say(f"formatting broker storage in {settings.data_dir}")
        _format_storage(java, classpath, config, settings, password)
    command = [
        java,
        f"-Xmx{settings.heap}",
        f"-Xms{settings.heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={settings.log_dir}",
        "-cp",
        classpath,
        "kafka.Kafka",
        str(config),
    ]
    # Detached: its own session (it ignores the terminal's Ctrl-C), none of this process's descriptors.
    with private_umask():  # the child inherits it: segments and logs it creates are private
        pid = spawn_detached(java, command, settings.log_dir / "stdout.log")
    write_private(settings.pid_file, f"{pid}\n")
    say(f"starting Kafka {pinned_kafka_version()} (pid {pid}), log: {log_file(settings)}")
    return pid


def _close_state_dir(settings: KafkaSettings) -> None:
    """The state, data and log directories 0700 and the logs 0600, also while a broker started by
    an earlier version runs (its files then sit in directories no one else can enter)."""
    for directory in (settings.state_dir, settings.data_dir, settings.log_dir):
        make_private_dir(directory)
    for log in settings.log_dir.iterdir():
        if log.is_file() and not log.is_symlink():
            tighten(log)


def _format_storage(
    java: str, classpath: str, config: Path, settings: KafkaSettings, password: str
) -> None:
    # The admin's SCRAM credential is written into the bootstrap metadata, so it exists at first start.
    cluster_id = _run_java(java, classpath, ["kafka.tools.StorageTool", "random-uuid"]).strip()
    scram = f"SCRAM-SHA-512=[name={settings.admin_user},password={password}]"
    args = ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)]
    # StorageTool echoes the credential record; keep it out of the terminal.
    _run_java(java, classpath, [*args, "--add-scram", scram])


def _run_java(java: str, classpath: str, args: list[str]) -> str:
    result = subprocess.run(
        [java, "-cp", classpath, *args],
        capture_output=True,
        text=True,
        check=False,
        umask=PRIVATE_UMASK,
    )
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise BrokerError(f"{args[0]} {args[1]} failed: " + " | ".join(message))
    return result.stdout


def _wait_until_answering(settings: KafkaSettings, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + settings.start_timeout_s
    connection = admin_connection(settings)
    listening_since: float | None = None
    while time.monotonic() < deadline:
        if not alive():
            raise BrokerError(
                f"the broker exited during start; see {log_file(settings)}:\n{_tail(settings)}"
            )
        if port_open(settings.host, settings.port):
            if metadata(connection, timeout_s=3) is not None:
                return
            listening_since = listening_since or time.monotonic()
            if time.monotonic() - listening_since > _AUTH_GRACE_S and _admin_refused(settings):
                raise BrokerError(
                    "the broker runs but refuses the admin's SCRAM credential. Either its data was"
                    " formatted with another admin password, or a SCRAM credential was deleted"
                    " (see 'Known broker problem' in deploy/kafka/README.md). `bus kafka reset --yes`"
                    " starts afresh and deletes all broker data."
                )
        time.sleep(0.3)
    raise BrokerError(
        f"the broker did not answer an authenticated metadata request within "
        f"{settings.start_timeout_s:.0f} s. Log {log_file(settings)}:\n{_tail(settings)}"
    )


def _admin_refused(settings: KafkaSettings) -> bool:
    return "invalid credentials with SASL mechanism SCRAM" in _tail(settings, lines=5)


def _tail(settings: KafkaSettings, lines: int = 12) -> str:
    try:
        text = log_file(settings).read_text(errors="replace")
    except OSError:
        return "(no log yet)"
    return "\n".join(text.splitlines()[-lines:])
