"""An enforcer in its own process, for crash and zombie tests.

    python -m tests.support.enforcer_process CONFIG [INSTANCE]

CONFIG (JSON): the connection (`KafkaConnection.to_json_dict()`'s keys: bootstrap, credentials,
security protocol, CA file), ingress (a topic or a list), group, consumers (ids),
producer (id), producer_public_pem, optionally idle_grants (a count: grants of agencies that
subscribe to nothing, to measure memory at a policy set's size). The policy: the producer is
Munich's register; each consumer holds a grant (subject_id, new_address) for purpose "tax"
covering Bavaria. Exits cleanly on SIGTERM.
"""

import asyncio
import json
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from bus.enforcer.pipeline import EnforcerState
from bus.enforcer.service import Enforcer
from bus.kafka.connection import KafkaConnection
from bus.keys import KeyStore
from bus.keys.keystore import public_key_from_pem
from bus.policy.documents import ProducerAuthority
from bus.policy.facts import Subscription
from bus.policy.snapshot import compile_snapshot
from bus.record.pseudonyms import Pseudonymizer
from tests.support.policy_sets import agency, grant, policy_set, purpose

TYPE = "population.AddressChanged"


def state_for(config: dict[str, Any]) -> EnforcerState:
    consumers = [str(c) for c in config["consumers"]]
    producer = str(config["producer"])
    # Grants of agencies that subscribe to nothing: a policy set's size without more work per event.
    idle = [f"idle-{i}" for i in range(int(config.get("idle_grants", 0)))]
    snapshot = compile_snapshot(
        policy_set(
            agencies=(
                agency(producer, "09162000", "population-register"),
                *(agency(c, "09", "taxation") for c in consumers + idle),
            ),
            purposes=(purpose("tax", "taxation"),),
            grants=tuple(
                grant(f"g-{i}", c, "tax", fields=("subject_id", "new_address"))
                for i, c in enumerate(consumers + idle)
            ),
            producers=(
                ProducerAuthority(agency=producer, event_types=(TYPE,), territory="09162000"),
            ),
        )
    )
    pem = str(config["producer_public_pem"]).encode()
    state = EnforcerState(
        snapshot=snapshot,
        keys=KeyStore([public_key_from_pem(producer, pem)]),
        subscriptions={TYPE: tuple(Subscription(c, TYPE, "tax") for c in consumers)},
        pseudonyms=Pseudonymizer(b"crash-test-pseudonym-key-0123456789"),
    )
    return with_ingress(state, config.get("ingress_of", config.get("ingress")))


def with_ingress(state: EnforcerState, ingress: object) -> EnforcerState:
    """A test's own ingress topic (a name) carries every type; or a test's own topic per type (a
    mapping of event type to topic, as config["ingress_of"]). A list of topics: the bus's names."""
    if isinstance(ingress, str):
        return replace(state, ingress_topic_of=lambda _event_type: ingress)
    if isinstance(ingress, dict):
        own = {str(t): str(topic) for t, topic in ingress.items()}
        return replace(state, ingress_topic_of=lambda event_type: own[event_type])
    return state


async def main(config: dict[str, Any], instance: str) -> None:
    connection = KafkaConnection.from_json_dict(config)  # protocol and CA too
    state = state_for(config)
    ingress = config["ingress"]  # one topic, or a list of them
    topics = [str(t) for t in ingress] if isinstance(ingress, list) else [str(ingress)]
    enforcer = Enforcer(connection, topics, lambda: state, group=config["group"], instance=instance)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await enforcer.run(stop)


if __name__ == "__main__":
    instance = sys.argv[2] if len(sys.argv) > 2 else "w0"
    # The worker's name on each line: the processes of one run share a log file.
    logging.basicConfig(
        level=logging.WARNING,
        format=f"%(asctime)s {instance} %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("bus.enforcer").setLevel(logging.INFO)  # assignments and revocations too
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text()), instance))
