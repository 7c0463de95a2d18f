"""Lifecycle of the local KRaft lab: one node, or three (`bus kafka up --nodes 3`), each a combined
broker and controller from the same jars on loopback ports; format, start, wait until every node
answers, stop, and single-node faults for tests (kill, stop, start one node).

Three combined nodes rather than separate controllers: on a two-core machine three JVMs are what
fits (six would double the memory and the start time), and each node a voter still lets any one
of them fail — the quorum and every partition keep a majority. The cost, that a broker's load can
slow the quorum on its node, is weighed in deploy/kafka/README.md.

The broker's data (every event, with its personal data) and logs are its owner's alone: the state
directory and everything in it are 0700/0600 (tightened at each start, for an install an earlier
version left open), and the JVMs run with umask 077, so what they create later is private too.
"""

import secrets
import shutil
import signal
import subprocess
import time
from base64 import urlsafe_b64encode
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from bus.devenv.broker_config import admin_password, render_server_properties
from bus.devenv.broker_node import (
    child_alive,
    node_log_file,
    node_pid,
    signal_node,
    spawn_node,
    wait_for_exit,
)
from bus.devenv.certs import ca_cert_path, ensure_certificates
from bus.devenv.prerequisites import require_java
from bus.devenv.probe import ClusterInfo, metadata, port_open
from bus.devenv.provision import pinned_kafka_version, provision_jars
from bus.devenv.quorum import QuorumMember, describe_quorum
from bus.devenv.service_accounts import provision_service_accounts
from bus.errors import BrokerError, BusError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.settings import KafkaSettings, formatted_nodes
from bus.util.private_files import (
    PRIVATE_UMASK,
    make_private_dir,
    tighten,
    tighten_tree,
    write_private,
)

Say = Callable[[str], None]
# A starting broker may refuse logins briefly until its metadata is loaded; past this, it is final.
_AUTH_GRACE_S = 15.0


@dataclass(frozen=True)
class NodeStatus:
    """One node as `status` finds it: its process (None if not running) and its client port."""

    node_id: int
    pid: int | None
    port: int
    log_file: Path


@dataclass(frozen=True)
class BrokerStatus:
    """The local lab as `status` finds it. `cluster` is None unless a node runs and answers the
    admin; `quorum` is None unless asked for (a string when it could not be read);
    `under_replicated` is topic → partitions with fewer in-sync replicas than replicas."""

    nodes: tuple[NodeStatus, ...]
    bootstrap: str
    version: str
    cluster: ClusterInfo | None
    quorum: list[QuorumMember] | str | None = None
    under_replicated: dict[str, list[int]] | None = None

    @property
    def running(self) -> bool:
        """Whether any node's process runs."""
        return any(node.pid is not None for node in self.nodes)

    @property
    def pid(self) -> int | None:
        """Node 1's process id (the single node's, on a one-node lab)."""
        return self.nodes[0].pid

    @property
    def log_file(self) -> Path:
        """Node 1's log."""
        return self.nodes[0].log_file


def admin_connection(settings: KafkaSettings) -> KafkaConnection:
    """The bus admin principal (the brokers' only super user) bootstrapping from every node, over
    TLS trusting the lab CA unless TLS is off (BUS_KAFKA_TLS=0)."""
    return KafkaConnection(
        settings.bootstrap,
        settings.admin_user,
        admin_password(settings),
        security_protocol=settings.security_protocol,
        ca_file=ca_cert_path(settings) if settings.tls else None,
    )


def log_file(settings: KafkaSettings) -> Path:
    """Node 1's log, where start failures are explained."""
    return node_log_file(settings, 1)


def broker_pid(settings: KafkaSettings) -> int | None:
    """Node 1's pid if it runs (on a one-node lab: the broker's)."""
    return node_pid(settings, 1)


def status(settings: KafkaSettings, quorum: bool = False) -> BrokerStatus:
    """Every node's process, the cluster's metadata as the admin reads it, under-replicated
    partitions and, if `quorum`, the controller quorum (costs a JVM start)."""
    nodes = tuple(
        NodeStatus(n, node_pid(settings, n), settings.node_port(n), node_log_file(settings, n))
        for n in settings.node_ids
    )
    connection = admin_connection(settings)
    running = any(node.pid for node in nodes)
    cluster = metadata(connection, timeout_s=5) if running else None
    under_replicated = None
    members: list[QuorumMember] | str | None = None
    if cluster is not None:
        with suppress(BrokerError):  # the cluster went away since: not known
            under_replicated = KafkaAdmin(connection).under_replicated()
        if quorum:
            members = _quorum(settings, connection)
    return BrokerStatus(
        nodes, settings.bootstrap, pinned_kafka_version(), cluster, members, under_replicated
    )


def _quorum(settings: KafkaSettings, connection: KafkaConnection) -> list[QuorumMember] | str:
    """The quorum's members, or why they could not be read (status never fails on it)."""
    try:
        return describe_quorum(
            require_java(),
            f"{provision_jars(settings)}/*",
            connection,
            settings.state_dir / "admin-client.properties",
        )
    except (BusError, OSError, subprocess.SubprocessError) as exc:
        return f"{type(exc).__name__}: {exc}"


def up(settings: KafkaSettings, say: Say = print) -> BrokerStatus:
    """Start every node not running yet; return once the admin's metadata request lists all of
    them, with each of the bus's services given its user, ACLs and connection profile."""
    formatted = formatted_nodes(settings)
    if formatted is not None and formatted != settings.node_count:
        raise BrokerError(
            f"the lab in {settings.state_dir} was formatted for {formatted} node(s), not"
            f" {settings.node_count}: a KRaft quorum's voters are fixed when it is formatted."
            f" Use --nodes {formatted} (and unset BUS_KAFKA_NODES), or `bus kafka reset --yes`"
            " (deletes all broker data)"
        )
    for node_id in settings.node_ids:
        _close_node_dirs(settings, node_id)
    missing = tuple(n for n in settings.node_ids if node_pid(settings, n) is None)
    started = _start(settings, missing, say) if missing else {}

    def dead() -> int | None:
        for n in settings.node_ids:
            if not (child_alive(started[n]) if n in started else node_pid(settings, n)):
                return n
        return None

    _wait_until_answering(settings, dead, brokers=set(settings.node_ids))
    provision_service_accounts(admin_connection(settings), settings.profiles_dir)
    return status(settings)


def down(settings: KafkaSettings, timeout_s: float = 60.0) -> bool:
    """Stop every node at once (SIGTERM, then SIGKILL after the timeout): one by one, the last
    nodes would wait for a quorum that is gone. False if none was running."""
    nodes = _nodes_on_disk(settings)
    pids = {n: pid for n in nodes if (pid := signal_node(settings, n, signal.SIGTERM))}
    wait_for_exit(settings, pids, timeout_s)
    return bool(pids)


def _nodes_on_disk(settings: KafkaSettings) -> list[int]:
    """The settings' nodes and any other the state directory holds (`node-<id>/`): down and
    reset must not miss a node that runs because settings name fewer (BUS_KAFKA_NODES)."""
    found = {int(d.name.removeprefix("node-")) for d in settings.state_dir.glob("node-[0-9]*")}
    return sorted(found | set(settings.node_ids))


def reset(settings: KafkaSettings) -> None:
    """Stop every node and delete their data, logs and generated credentials."""
    down(settings)
    if running := [n for n in _nodes_on_disk(settings) if node_pid(settings, n)]:
        raise BrokerError(f"node(s) {running} still run; nothing was deleted")
    shutil.rmtree(settings.state_dir, ignore_errors=True)


def kill_node(settings: KafkaSettings, node_id: int) -> None:
    """`kill -9` node `node_id` (a crash: no controlled shutdown, nothing flushed); returns once
    the cluster no longer lists it (after the broker session timeout)."""
    pid = signal_node(settings, _known(settings, node_id), signal.SIGKILL)
    if pid is None:
        raise BrokerError(f"node {node_id} is not running")
    wait_for_exit(settings, {node_id: pid}, timeout_s=10)
    connection = admin_connection(settings)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        cluster = metadata(connection, timeout_s=3)
        if cluster is not None and node_id not in cluster.broker_ids:
            return
        time.sleep(0.3)


def _known(settings: KafkaSettings, node_id: int) -> int:
    if node_id not in settings.node_ids:
        raise BrokerError(f"no node {node_id}: the lab has nodes {list(settings.node_ids)}")
    return node_id


def stop_node(settings: KafkaSettings, node_id: int, timeout_s: float = 60.0) -> None:
    """Stop node `node_id` as an operator does in a rolling restart (SIGTERM: it hands its
    partition leadership over first)."""
    pid = signal_node(settings, _known(settings, node_id), signal.SIGTERM)
    if pid is None:
        raise BrokerError(f"node {node_id} is not running")
    wait_for_exit(settings, {node_id: pid}, timeout_s)


def start_node(settings: KafkaSettings, node_id: int) -> None:
    """Start node `node_id` again (already formatted) and return once the cluster lists it."""
    if node_pid(settings, _known(settings, node_id)) is not None:
        return
    pid = _start(settings, (node_id,), say=lambda _line: None)[node_id]
    _wait_until_answering(
        settings, lambda: None if child_alive(pid) else node_id, brokers={node_id}
    )


def _start(settings: KafkaSettings, node_ids: tuple[int, ...], say: Say) -> dict[int, int]:
    """Format what is not formatted yet and spawn the nodes `node_ids`; node id → pid."""
    java = require_java()
    for node_id in node_ids:
        ports = (settings.node_port(node_id), settings.node_controller_port(node_id))
        if any(port_open(settings.host, port) for port in ports):
            raise BrokerError(
                f"port {ports[0]} or {ports[1]} on {settings.host} (node {node_id}) is taken by"
                " another process; stop it or choose free ports with BUS_KAFKA_PORT and"
                f" BUS_KAFKA_CONTROLLER_PORT (node N uses both plus 2(N-1))"
            )
    libs = provision_jars(settings)
    password = admin_password(settings)
    if settings.tls:
        ca, nodes = ensure_certificates(settings, tuple(settings.node_ids))
        for made in (ca, *(node.certificate for node in nodes)):
            if made.created:
                say(f"made {made.path} ({made.subject}), valid until {made.not_after:%Y-%m-%d}")
    tighten_tree(settings.state_dir)  # what an earlier version's broker wrote open to others
    classpath = f"{libs}/*"
    configs = {n: render_server_properties(settings, password, n) for n in node_ids}
    unformatted = [
        n for n in node_ids if not (settings.node_data_dir(n) / "meta.properties").exists()
    ]
    if unformatted:
        # Recorded first: a format cut short is then resumed with the same count and cluster id.
        write_private(settings.nodes_file, f"{settings.node_count}\n")
        cluster_id = _cluster_id(settings)
        for node_id in unformatted:
            say(f"formatting node {node_id}'s storage in {settings.node_data_dir(node_id)}")
            _format_storage(java, classpath, configs[node_id], settings, password, cluster_id)
    pids = {n: spawn_node(settings, n, java, classpath, configs[n]) for n in node_ids}
    for node_id, pid in pids.items():
        say(
            f"starting Kafka {pinned_kafka_version()} node {node_id} (pid {pid}, port"
            f" {settings.node_port(node_id)}), log: {node_log_file(settings, node_id)}"
        )
    return pids


def _cluster_id(settings: KafkaSettings) -> str:
    """The one cluster id all nodes are formatted with (made once, kept in the state directory)."""
    try:
        return settings.cluster_id_file.read_text().strip()
    except FileNotFoundError:
        # As `kafka-storage random-uuid` makes it: 16 random bytes, URL-safe base64 unpadded, never
        # starting with "-" (the format command would read it as an option).
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        write_private(settings.cluster_id_file, cluster_id + "\n")
        return cluster_id


def _close_node_dirs(settings: KafkaSettings, node_id: int) -> None:
    """The state, data and log directories 0700 and the logs 0600, also while a broker started by
    an earlier version runs (its files then sit in directories no one else can enter)."""
    for directory in (
        settings.state_dir,
        settings.node_home(node_id),
        settings.node_data_dir(node_id),
        settings.node_log_dir(node_id),
    ):
        make_private_dir(directory)
    for log in settings.node_log_dir(node_id).iterdir():
        if log.is_file() and not log.is_symlink():
            tighten(log)


def _format_storage(
    java: str,
    classpath: str,
    config: Path,
    settings: KafkaSettings,
    password: str,
    cluster_id: str,
) -> None:
    # The admin's SCRAM credential is written into the bootstrap metadata, so it exists at first
    # start. It goes through a private argument file (the launcher's @file), never the command
    # line, which every local user can read in /proc.
    scram = f"SCRAM-SHA-512=[name={settings.admin_user},password={password}]"
    args = ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)]
    argfile = settings.state_dir / "format.args"
    write_private(argfile, "\n".join(_argfile_quoted(a) for a in [*args, "--add-scram", scram]))
    try:
        # StorageTool echoes the credential record; keep it out of the terminal.
        _run_java(java, classpath, [f"@{argfile}"], what="StorageTool format")
    finally:
        argfile.unlink(missing_ok=True)


def _argfile_quoted(argument: str) -> str:
    """One argument as a java @file line: quoted, so a space or `#` in a path stays in it."""
    return '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _run_java(java: str, classpath: str, args: list[str], what: str) -> str:
    result = subprocess.run(
        [java, "-cp", classpath, *args],
        capture_output=True,
        text=True,
        check=False,
        umask=PRIVATE_UMASK,
    )
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise BrokerError(f"{what} failed: " + " | ".join(message))
    return result.stdout


def _wait_until_answering(
    settings: KafkaSettings, dead: Callable[[], int | None], brokers: set[int]
) -> None:
    """Until the admin's metadata request lists every node of `brokers` (registered, unfenced);
    `dead` names a node whose process has exited (the start failed), else None."""
    deadline = time.monotonic() + settings.start_timeout_s
    connection = admin_connection(settings)
    listening_since: float | None = None
    listed: tuple[int, ...] = ()
    while time.monotonic() < deadline:
        if (exited := dead()) is not None:
            raise BrokerError(
                f"node {exited} exited during start ({_others_running(settings, exited)});"
                f" its log {node_log_file(settings, exited)}:\n{_tail(settings, exited)}"
            )
        if any(port_open(settings.host, settings.node_port(n)) for n in brokers):
            cluster = metadata(connection, timeout_s=3)
            listed = cluster.broker_ids if cluster else ()
            if brokers <= set(listed):
                return
            listening_since = listening_since or time.monotonic()
            waited = time.monotonic() - listening_since
            # Only when nothing answered: an answer without every node is a slow start.
            if cluster is None and waited > _AUTH_GRACE_S and _admin_refused(settings):
                raise BrokerError(
                    "the broker runs but refuses the admin's SCRAM credential. Either its data was"
                    " formatted with another admin password, or a SCRAM credential was deleted"
                    " (see 'Known broker problem' in deploy/kafka/README.md). `bus kafka reset --yes`"
                    " starts afresh and deletes all broker data."
                )
        time.sleep(0.3)
    missing = min(brokers - set(listed))
    raise BrokerError(
        f"the cluster did not list node(s) {sorted(brokers - set(listed))} within"
        f" {settings.start_timeout_s:.0f} s ({_others_running(settings, None)}). Node {missing}'s"
        f" log {node_log_file(settings, missing)}:\n{_tail(settings, missing)}"
    )


def _others_running(settings: KafkaSettings, besides: int | None) -> str:
    running = [n for n in settings.node_ids if n != besides and node_pid(settings, n)]
    if not running:
        return "no other node runs"
    return f"node(s) {running} still run: `bus kafka down` stops them"


def _admin_refused(settings: KafkaSettings) -> bool:
    return "invalid credentials with SASL mechanism SCRAM" in _tail(settings, 1, lines=5)


def _tail(settings: KafkaSettings, node_id: int, lines: int = 12) -> str:
    try:
        text = node_log_file(settings, node_id).read_text(errors="replace")
    except OSError:
        return "(no log yet)"
    return "\n".join(text.splitlines()[-lines:])
