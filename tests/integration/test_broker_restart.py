"""A restarted broker keeps every SCRAM credential, also after principals were revoked.

Runs a second, private broker (own ports and state directory) so that it can be stopped and started
without disturbing the session broker the other tests use.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.devenv import broker
from bus.devenv.probe import metadata
from bus.kafka.admin import KafkaAdmin
from bus.kafka.settings import KafkaSettings, load_kafka_settings
from tests.support.kafka import unique_name
from tests.support.private_broker import free_ports

pytestmark = pytest.mark.slow


@pytest.fixture
def private_broker(tmp_path: Path, kafka_settings: KafkaSettings) -> Iterator[KafkaSettings]:
    port, controller_port = free_ports(2)
    settings = load_kafka_settings(
        state_dir=tmp_path / "kafka",
        cache_dir=kafka_settings.cache_dir,
        port=port,
        controller_port=controller_port,
        start_timeout_s=60,
    )
    try:
        broker.up(settings, say=lambda _: None)
        yield settings
    finally:
        broker.down(settings)


def test_credentials_survive_a_restart_after_a_revocation(private_broker: KafkaSettings) -> None:
    admin_connection = broker.admin_connection(private_broker)
    admin = KafkaAdmin(admin_connection)
    kept = admin_connection.as_user(unique_name("kept"), "kept-password-123")
    revoked = admin_connection.as_user(unique_name("revoked"), "revoked-password-123")
    for principal in (kept, revoked):
        admin.upsert_scram_user(principal.username, principal.password)
    admin.revoke_scram_user(revoked.username)
    admin.create_topics([unique_name("after-revocation")])  # a metadata record after the change

    assert broker.down(private_broker)
    broker.up(private_broker, say=lambda _: None)

    assert metadata(admin_connection) is not None
    assert metadata(kept) is not None
    assert metadata(revoked, timeout_s=3) is None
