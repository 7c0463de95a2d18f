"""(c) Deny by default: a principal without ACLs can neither produce nor consume; prefixed ACLs let it."""

from collections.abc import Callable

import pytest
from aiokafka.errors import TopicAuthorizationFailedError

from bus.kafka.admin import Acl, KafkaAdmin, Operation, Resource
from bus.kafka.connection import KafkaConnection
from tests.support.kafka import (
    AuthorizationFailed,
    Principals,
    consume_one,
    eventually,
    produce_one,
    unique_name,
)


async def test_principal_without_acls_is_refused_then_prefixed_acls_let_it_through(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    principals: Principals,
    topic_factory: Callable[..., str],
) -> None:
    prefix = unique_name("agency-a")
    own_topic = topic_factory(name=f"{prefix}.delivery")
    foreign_topic = topic_factory("foreign")
    agency = principals.create("agency-a")
    await produce_one(kafka_broker, own_topic, b"from-the-bus")

    with pytest.raises(TopicAuthorizationFailedError):
        await produce_one(agency, own_topic, b"not-allowed")
    with pytest.raises(AuthorizationFailed):
        await consume_one(agency, own_topic, group=f"{prefix}-group")

    principal = f"User:{agency.username}"
    kafka_admin.create_acls(
        [
            Acl(principal, Resource.TOPIC, prefix, Operation.WRITE, prefixed=True),
            Acl(principal, Resource.TOPIC, prefix, Operation.READ, prefixed=True),
            Acl(principal, Resource.GROUP, prefix, Operation.READ, prefixed=True),
        ]
    )

    await eventually(lambda: produce_one(agency, own_topic, b"allowed"))
    assert await consume_one(agency, own_topic, group=f"{prefix}-group") == b"from-the-bus"
    # The prefix is the boundary: a topic outside it stays closed.
    with pytest.raises(TopicAuthorizationFailedError):
        await produce_one(agency, foreign_topic, b"still-not-allowed")
    with pytest.raises(AuthorizationFailed):
        await consume_one(agency, foreign_topic, group=f"{prefix}-group")
