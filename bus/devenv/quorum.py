"""The controller quorum as the cluster itself reports it (Kafka's own `kafka-metadata-quorum`
tool, run from the lab's jars as the admin): which node leads, which follow, and how far each
voter's copy of the metadata log lags the leader's.

Kafka's Python clients have no DescribeQuorum call, so the Java tool answers; it costs one JVM
start (about two seconds), which `bus kafka status` accepts.
"""

import subprocess
from dataclasses import dataclass
from pathlib import Path

from bus.kafka.connection import KafkaConnection
from bus.util.private_files import PRIVATE_UMASK, write_private

_TOOL = "org.apache.kafka.tools.MetadataQuorumCommand"
_TIMEOUT_S = 60


@dataclass(frozen=True)
class QuorumMember:
    """One node of the quorum: its id, its role (Leader, Follower or Observer) and how many
    metadata records it is behind the leader."""

    node_id: int
    role: str
    lag: int


def describe_quorum(
    java: str, classpath: str, connection: KafkaConnection, client_config: Path
) -> list[QuorumMember] | str:
    """The quorum's members, or the reason it could not be read (the tool's last lines). The
    tool's configuration (it holds the admin's password) exists only while it runs."""
    write_private(client_config, client_properties(connection))
    try:
        result = _run_tool(java, classpath, connection, client_config)
    finally:
        client_config.unlink(missing_ok=True)
    if result.returncode != 0:
        return " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
    return parse_replication(result.stdout) or "the tool listed no voters"


def _run_tool(
    java: str, classpath: str, connection: KafkaConnection, client_config: Path
) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [
            java,
            "-cp",
            classpath,
            _TOOL,
            "--bootstrap-server",
            connection.bootstrap,
            "--command-config",
            str(client_config),
            "describe",
            "--replication",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=_TIMEOUT_S,
        umask=PRIVATE_UMASK,
    )


def parse_replication(output: str) -> list[QuorumMember]:
    """The rows of `describe --replication`: a header naming the columns, one row per node."""
    lines = [line.split() for line in output.strip().splitlines() if line.strip()]
    if not lines or "NodeId" not in lines[0]:
        return []
    header = lines[0]
    node, lag, role = header.index("NodeId"), header.index("Lag"), header.index("Status")
    members = []
    for row in lines[1:]:
        if len(row) != len(header):
            continue
        members.append(QuorumMember(int(row[node]), row[role], int(row[lag])))
    return sorted(members, key=lambda member: member.node_id)


def client_properties(connection: KafkaConnection) -> str:
    """A Java client's configuration for `connection` (SASL/SCRAM, TLS trusting its CA file)."""
    # The JAAS line quotes the password: a quote or backslash in it must be escaped.
    password = connection.password.replace("\\", "\\\\").replace('"', '\\"')
    user = connection.username.replace("\\", "\\\\").replace('"', '\\"')
    lines = [
        f"security.protocol={connection.security_protocol}",
        "sasl.mechanism=SCRAM-SHA-512",
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required"
        f' username="{user}" password="{password}";',
    ]
    if connection.ca_file is not None:
        lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={connection.ca_file}"]
    return "\n".join(lines) + "\n"
