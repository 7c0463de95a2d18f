"""The unit tier runs without a broker and without PostgreSQL (`make unit`). A unit test that asks
for one fails at once, saying so, instead of starting the shared broker or installing a database:
such a test belongs in tests/integration."""

import pytest


def _refused(what: str) -> str:
    return (
        f"a unit test asked for {what}; unit tests run without it (`make unit`)."
        " Move the test to tests/integration."
    )


@pytest.fixture(scope="session")
def kafka_broker() -> None:
    """Replaces the broker fixture (and so kafka_admin, topic_factory, principals) for unit tests."""
    pytest.fail(_refused("the Kafka broker"), pytrace=False)


@pytest.fixture(scope="session")
def postgres_url() -> None:
    """Replaces the PostgreSQL fixture for unit tests."""
    pytest.fail(_refused("PostgreSQL"), pytrace=False)
