"""ACLs derived from policy and subscriptions: producers write their ingress topics, consumers read
their own delivery topics and groups, and nothing else."""

from bus.acls import desired_acls
from bus.kafka.admin import Acl, Operation, Resource
from policies.documents import ProducerAuthority
from policies.facts import Subscription
from policies.snapshot import compile_snapshot
from tests.support.policy_sets import agency, grant, policy_set, purpose

TYPE = "population.AddressChanged"
SNAPSHOT = compile_snapshot(
    policy_set(
        agencies=(
            agency("muni-muc", "09162000", "population-register"),
            agency("tax-by", "09", "taxation"),
        ),
        purposes=(purpose("tax", "taxation"),),
        grants=(grant("g-tax", "tax-by", "tax"),),
        producers=(
            ProducerAuthority(agency="muni-muc", event_types=(TYPE,), territory="09162000"),
        ),
    )
)


def test_producer_writes_its_ingress_topic_and_consumer_reads_its_delivery_topic() -> None:
    acls = desired_acls(SNAPSHOT, [Subscription("tax-by", TYPE, "tax")])
    assert acls == {
        Acl(
            "User:muni-muc",
            Resource.TOPIC,
            "bus.ingress.population.AddressChanged",
            Operation.WRITE,
        ),
        Acl("User:tax-by", Resource.TOPIC, "bus.delivery.tax-by.tax", Operation.READ),
        Acl("User:tax-by", Resource.GROUP, "tax-by.", Operation.READ, prefixed=True),
    }


def test_without_subscriptions_consumers_get_nothing_and_unknown_agencies_are_ignored() -> None:
    acls = desired_acls(SNAPSHOT, [Subscription("ghost", TYPE, "tax")])
    assert {a.principal for a in acls} == {"User:muni-muc"}
