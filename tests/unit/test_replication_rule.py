"""The replication rule (bus/kafka/replication.py): copies per partition from the cluster's size."""

import pytest

from bus.kafka.replication import MIN_INSYNC_KEY, Replication, replication_for


@pytest.mark.parametrize(
    ("brokers", "expected"),
    [
        (1, Replication(1, 1)),
        (2, Replication(2, 1)),
        (3, Replication(3, 2)),
        (5, Replication(3, 2)),
    ],
)
def test_replicas_follow_the_cluster_size(brokers: int, expected: Replication) -> None:
    assert replication_for(brokers) == expected


def test_one_broker_may_fail_on_a_cluster_of_three() -> None:
    rule = replication_for(3)
    # A write is acknowledged by min_insync replicas; losing one broker still leaves that many.
    assert rule.factor - 1 >= rule.min_insync > 1
    assert rule.config() == {MIN_INSYNC_KEY: "2"}
