"""Subscribing: permitted by a grant → registered (and listed); refused → not registered, audited;
unsubscribing removes it. Through the `bus` CLI, against the real broker and the reference policy,
on a registry of the test's own (--subscriptions-topic): the demo's tax-by subscription on the
shared broker stays."""

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiokafka.structs import ConsumerRecord
from typer.testing import CliRunner

from bus.cli.main import app
from bus.control import subscriptions
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import AUDIT_TOPIC
from bus.policy.facts import Subscription
from tests.support.kafka import read_topic
from tests.support.operator_grants import operator_on

TYPE = "population.AddressChanged"
REFERENCE = "policies/reference"


def test_subscribe_refuse_list_unsubscribe(
    kafka_broker: KafkaConnection, kafka_admin: KafkaAdmin, topic_factory: Callable[..., str]
) -> None:
    # Synchronous on purpose: the CLI runs its own event loop, as it does for a user.
    runner = CliRunner()
    registry = topic_factory("subscriptions")
    with operator_on(kafka_admin, registry):  # the commands run as the operator
        _subscribe_refuse_list_unsubscribe(runner, kafka_broker, registry)


def _subscribe_refuse_list_unsubscribe(
    runner: CliRunner, kafka_broker: KafkaConnection, registry: str
) -> None:
    own = ["--subscriptions-topic", registry]
    granted = ["--consumer", "tax-by", "--event-type", TYPE, "--purpose", "tax-residence", *own]
    ok = runner.invoke(app, ["subscribe", *granted, "--policy", REFERENCE])
    assert ok.exit_code == 0, ok.output
    assert "under grant tax-by-address" in ok.output
    assert Subscription("tax-by", TYPE, "tax-residence") in asyncio.run(
        subscriptions.load(kafka_broker, registry)
    )

    # The vehicle registry has no grant for the electoral-register purpose: refused and audited.
    refused = runner.invoke(
        app,
        [
            "subscribe",
            "--consumer",
            "kba-de",
            "--event-type",
            TYPE,
            "--purpose",
            "electoral-register",
            "--policy",
            REFERENCE,
            *own,
        ],
    )
    assert refused.exit_code == 1
    assert "refused" in refused.output
    assert Subscription("kba-de", TYPE, "electoral-register") not in asyncio.run(
        subscriptions.load(kafka_broker, registry)
    )
    audits = _decisions(asyncio.run(read_topic(kafka_broker, AUDIT_TOPIC)))
    assert any(
        a["outcome"] == "SUBSCRIPTION_REFUSED"
        and a["consumer"] == "kba-de"
        and a["purpose"] == "electoral-register"
        for a in audits
    )

    listed = runner.invoke(app, ["subscriptions", *own])
    assert "tax-by" in listed.output
    gone = runner.invoke(app, ["unsubscribe", *granted])
    assert gone.exit_code == 0, gone.output
    assert Subscription("tax-by", TYPE, "tax-residence") not in asyncio.run(
        subscriptions.load(kafka_broker, registry)
    )

    # The removal is audited; removing it again changes (and audits) nothing.
    def removals() -> int:
        records = asyncio.run(read_topic(kafka_broker, AUDIT_TOPIC))
        return sum(
            1
            for d in _decisions(records)
            if d["outcome"] == "SUBSCRIPTION_REMOVED"
            and d["consumer"] == "tax-by"
            and d["reasons"] == ["UNSUBSCRIBED"]
        )

    before = removals()
    assert before >= 1
    again = runner.invoke(app, ["unsubscribe", *granted])
    assert again.exit_code == 0, again.output
    assert "not subscribed" in again.output
    assert removals() == before


def _decisions(records: list[ConsumerRecord[bytes, bytes]]) -> list[dict[str, Any]]:
    """The audit records among `records`: the shared bus.audit may hold other tests' bytes."""
    decoded = []
    for record in records:
        try:
            decoded.append(json.loads(record.value))
        except ValueError:
            continue
    return [d for d in decoded if isinstance(d, dict) and "outcome" in d]
