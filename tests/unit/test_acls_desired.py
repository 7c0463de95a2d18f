"""ACLs derived from policy and subscriptions: producers write their ingress topics, consumers read
their own delivery topics and groups, and nothing else."""

from datetime import UTC, datetime

from bus.control.acls import desired_acls
from bus.kafka.admin import Acl, Operation, Resource
from bus.policy.documents import ProducerAuthority
from bus.policy.facts import Subscription
from bus.policy.snapshot import compile_snapshot
from tests.support.policy_sets import agency, grant, policy_set, purpose

TYPE = "population.AddressChanged"
NOW = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
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
    acls = desired_acls(SNAPSHOT, [Subscription("tax-by", TYPE, "tax")], NOW)
    assert acls == {
        Acl(
            "User:muni-muc",
            Resource.TOPIC,
            "bus.ingress.population.AddressChanged",
            Operation.WRITE,
        ),
        Acl("User:muni-muc", Resource.TOPIC, "bus.source-offsets.muni-muc", Operation.WRITE),
        Acl("User:muni-muc", Resource.TOPIC, "bus.source-offsets.muni-muc", Operation.READ),
        Acl(
            "User:muni-muc", Resource.TRANSACTIONAL_ID, "muni-muc.", Operation.WRITE, prefixed=True
        ),
        Acl("User:tax-by", Resource.TOPIC, "bus.delivery.tax-by.tax", Operation.READ),
        Acl("User:tax-by", Resource.GROUP, "tax-by.", Operation.READ, prefixed=True),
        Acl("User:tax-by", Resource.TOPIC, "bus.deadletter.tax-by", Operation.WRITE),
        Acl("User:tax-by", Resource.TOPIC, "bus.deadletter.tax-by", Operation.READ),
        Acl("User:tax-by", Resource.TOPIC, "bus.erasures.tax-by", Operation.WRITE),
    }


def test_without_subscriptions_consumers_get_nothing_and_unknown_agencies_are_ignored() -> None:
    acls = desired_acls(SNAPSHOT, [Subscription("ghost", TYPE, "tax")], NOW)
    assert {a.principal for a in acls} == {"User:muni-muc"}


def test_a_subscription_whose_grant_expired_gives_no_access() -> None:
    later = datetime(2031, 1, 1, tzinfo=UTC).timestamp()
    expiring = compile_snapshot(
        policy_set(
            agencies=(agency("tax-by", "09", "taxation"),),
            purposes=(purpose("tax", "taxation"),),
            grants=(grant("g-tax", "tax-by", "tax", valid_until=datetime(2030, 1, 1, tzinfo=UTC)),),
        )
    )
    subscription = [Subscription("tax-by", TYPE, "tax")]
    assert {a.principal for a in desired_acls(expiring, subscription, NOW)} == {"User:tax-by"}
    assert desired_acls(expiring, subscription, later) == set()
