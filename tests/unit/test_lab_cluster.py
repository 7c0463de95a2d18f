"""The lab's three-node cluster without starting it: where each node listens and keeps its files,
what its configuration says, how the node count is remembered, and how the quorum tool's answer
is read. (tests/integration/test_cluster_faults.py runs the cluster.)"""

from pathlib import Path

import pytest

from bus.devenv import broker
from bus.devenv.broker_config import render_server_properties
from bus.devenv.quorum import QuorumMember, client_properties, parse_replication
from bus.errors import BrokerError, ConfigError
from bus.kafka.connection import KafkaConnection
from bus.kafka.settings import KafkaSettings, formatted_nodes, load_kafka_settings


def settings_in(state: Path, **overrides: object) -> KafkaSettings:
    return load_kafka_settings(state_dir=state, tls=False, **overrides)


def properties(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith("#")}


def test_each_node_has_its_own_ports_and_directory(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, nodes=3, port=30000, controller_port=30001)
    assert [settings.node_port(n) for n in settings.node_ids] == [30000, 30002, 30004]
    assert [settings.node_controller_port(n) for n in settings.node_ids] == [30001, 30003, 30005]
    assert settings.bootstrap == "127.0.0.1:30000,127.0.0.1:30002,127.0.0.1:30004"
    # Node 1 keeps the single-node layout; the others live beside it.
    assert settings.node_data_dir(1) == tmp_path / "data"
    assert settings.node_data_dir(3) == tmp_path / "node-3" / "data"
    assert len({settings.node_pid_file(n) for n in settings.node_ids}) == 3


def test_colliding_ports_are_refused_naming_the_fix(tmp_path: Path) -> None:
    # Node 2's client port would be node 1's controller port.
    with pytest.raises(ConfigError, match=r"controller_port = port \+ 1 \(the default\)"):
        settings_in(tmp_path, nodes=3, port=30000, controller_port=30002)


def test_two_nodes_are_refused_they_survive_no_failure(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="survive no failure") as refused:
        settings_in(tmp_path, nodes=2)
    # A rule over several settings names no variable of its own, nor dumps the values.
    assert str(refused.value) == (
        "invalid broker setting: 2 nodes survive no failure; run 1 node, or 3."
        " Fix the environment variable or option."
    )


def test_a_node_config_names_every_voter_and_the_replication_of_three(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, nodes=3, port=30000, controller_port=30001)
    config = properties(render_server_properties(settings, "p" * 16, node_id=2))
    assert config["node.id"] == "2"
    assert config["controller.quorum.voters"] == (
        "1@127.0.0.1:30001,2@127.0.0.1:30003,3@127.0.0.1:30005"
    )
    assert config["listeners"] == "CLIENT://127.0.0.1:30002,CONTROLLER://127.0.0.1:30003"
    assert config["log.dirs"] == str(tmp_path / "node-2" / "data")
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor"):
        assert config[key] == "3"
    assert config["transaction.state.log.min.isr"] == config["min.insync.replicas"] == "2"


def test_a_single_node_asks_one_replica(tmp_path: Path) -> None:
    config = properties(render_server_properties(settings_in(tmp_path, nodes=1), "p" * 16))
    assert config["offsets.topic.replication.factor"] == "1"
    assert config["min.insync.replicas"] == "1"


def test_the_node_count_is_what_the_storage_was_formatted_for(tmp_path: Path) -> None:
    fresh = settings_in(tmp_path)
    assert formatted_nodes(fresh) is None
    assert fresh.node_count == 1
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "meta.properties").write_text("node.id=1\n")
    assert formatted_nodes(fresh) == 1  # formatted before clusters existed: one node
    (tmp_path / "nodes").write_text("3\n")
    assert settings_in(tmp_path).node_count == 3  # every command then reaches every node


def test_up_refuses_another_node_count_than_formatted(tmp_path: Path) -> None:
    (tmp_path / "nodes").write_text("1\n")
    with pytest.raises(BrokerError, match=r"formatted for 1 node\(s\), not 3.*reset"):
        broker.up(settings_in(tmp_path, nodes=3), say=lambda _line: None)


def test_the_quorum_tools_answer_is_read_per_node() -> None:
    header = (
        "NodeId  DirectoryId  LogEndOffset  Lag  LastFetchTimestamp  LastCaughtUpTimestamp  Status"
    )
    output = f"""{header}
3       nQ3TkU0qRdyEPrGp3ufl7g  812  0  1796257206876  1796257206876  Leader
1       Ab2TkU0qRdyEPrGp3ufl7g  811  1  1796257206800  1796257206800  Follower
2       Cd3TkU0qRdyEPrGp3ufl7g  812  0  1796257206870  1796257206870  Follower
"""
    assert parse_replication(output) == [
        QuorumMember(1, "Follower", 1),
        QuorumMember(2, "Follower", 0),
        QuorumMember(3, "Leader", 0),
    ]
    assert parse_replication("Error: something went wrong\n") == []


def test_the_quorum_tools_client_config_escapes_the_password(tmp_path: Path) -> None:
    connection = KafkaConnection(
        "h:1", "bus-admin", 'a"b\\c', security_protocol="SASL_SSL", ca_file=tmp_path / "ca.crt"
    )
    text = client_properties(connection)
    assert 'username="bus-admin" password="a\\"b\\\\c";' in text
    assert "security.protocol=SASL_SSL" in text
    assert f"ssl.truststore.location={tmp_path / 'ca.crt'}" in text
