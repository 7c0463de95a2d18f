"""The bus's operator on a test's own state topics: the operator's commands (`bus policy apply`,
`bus subscribe`, `bus agency onboard/offboard`) run as `bus-operator` from its lab profile, whose
ACLs cover only the bus's own bus.policy and bus.subscriptions. A test's own policy topic or
registry is granted to it here, and the grant removed afterwards."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from bus.control.service_principals import OPERATOR_USER
from bus.kafka.admin import Acl, KafkaAdmin, Operation, Resource
from bus.kafka.profile import load_profile

PROPAGATION_S = 15.0  # ACLs reach the authorizer through the metadata log


@contextmanager
def operator_on(admin: KafkaAdmin, *topics: str) -> Iterator[None]:
    """READ and WRITE on `topics` for the operator while inside (granted by the test's admin)."""
    acls = {
        Acl(f"User:{OPERATOR_USER}", Resource.TOPIC, topic, op)
        for topic in topics
        for op in (Operation.READ, Operation.WRITE)
    }
    admin.create_acls(acls)
    operator = KafkaAdmin(load_profile("operator"))
    deadline = time.monotonic() + PROPAGATION_S
    while not set(topics) <= set(operator.list_topics()):  # READ implies DESCRIBE
        if time.monotonic() > deadline:
            raise AssertionError(f"the operator's grant on {topics} did not arrive")
        time.sleep(0.2)
    try:
        yield
    finally:
        admin.delete_acls(acls)
