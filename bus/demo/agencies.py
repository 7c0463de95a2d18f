"""The demo's agencies: credentials, signing keys and subscriptions, as an operator would set
them up with `bus agency onboard` and `bus subscribe`."""

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka.errors import KafkaError

from bus.control.credentials import ensure_credentials
from bus.control.subscription_service import subscribe
from bus.errors import BrokerError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.keys import AgencySigningKey, generate_key_files
from bus.policy.decision import Decision
from bus.policy.facts import Subscription
from bus.policy.snapshot import Snapshot
from consumers.back_offices import REFERENCE_BACK_OFFICES
from consumers.interest import InterestRegister

# The operator's watch creates the marker topic and grants its WRITE within seconds.
MARKER_TOPIC_WAIT_S = 60.0


@dataclass(frozen=True)
class KeyFolders:
    """Where the demo keeps the registers' private signing keys and their public keys."""

    private: Path
    public: Path

    def signing_key(self, agency: str) -> AgencySigningKey:
        """`agency`'s signing key, generated (with its public key file) on first use."""
        path = self.private / f"{agency}.key.pem"
        if not path.exists():
            generate_key_files(agency, self.private, self.public)
        return AgencySigningKey.from_pem_file(agency, path)


def connections(
    admin: KafkaAdmin, operator: KafkaConnection, agencies: list[str]
) -> dict[str, KafkaConnection]:
    """Each agency's own credentials (created on first use)."""
    out = {}
    for agency in agencies:
        credentials = ensure_credentials(admin, agency)
        out[agency] = operator.as_user(credentials.username, credentials.password)
    return out


async def subscribe_back_offices(
    operator: KafkaConnection, admin: KafkaAdmin, snapshot: Snapshot
) -> list[Decision]:
    """Subscribe every reference back office to each event type and purpose it handles, as the
    operator; returns the decisions."""
    now = datetime.now(UTC)
    decisions = []
    for office in REFERENCE_BACK_OFFICES:
        for h in office.handles:
            subscription = Subscription(office.agency_id, h.event_type, h.purpose)
            decisions.append(await subscribe(operator, admin, snapshot, subscription, now))
    return decisions


async def ask_without_grant(
    operator: KafkaConnection,
    admin: KafkaAdmin,
    snapshot: Snapshot,
    request: tuple[str, str, str],
) -> Decision:
    """Ask for a subscription no grant covers (`request`: consumer, event type, purpose), so the
    demo shows a refusal and its audit record."""
    consumer, event_type, purpose = request
    subscription = Subscription(consumer, event_type, purpose)
    return await subscribe(operator, admin, snapshot, subscription, datetime.now(UTC))


async def register_interests(
    admin: KafkaAdmin, agency: str, connection: KafkaConnection, purpose: str, people: list[str]
) -> None:
    """`agency` registers its cases (`bus interest add`), with its own credentials, once the
    operator's watch has created its marker topic and granted it the right to write it."""
    register = InterestRegister(agency, connection)
    deadline = time.monotonic() + MARKER_TOPIC_WAIT_S
    while register.topic(purpose) not in admin.list_topics():
        if time.monotonic() > deadline:
            raise BrokerError(
                f"{register.topic(purpose)} was not created within {MARKER_TOPIC_WAIT_S:.0f} s"
            )
        await asyncio.sleep(0.5)
    while True:
        try:
            async with register:
                for person in people:
                    await register.add(person, purpose)
            return
        except KafkaError:  # the WRITE grant has not reached the broker's authorizer yet
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
