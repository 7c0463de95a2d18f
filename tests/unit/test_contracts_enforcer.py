"""The contract says what the enforcer really does: a delivery's topic is the channel's address,
its headers and key fit the message's schemas, and its presentation discloses exactly the
payload's properties (the enforcer's pipeline is run, not imitated)."""

import pytest
from jsonschema import Draft7Validator

from bus.contracts.asyncapi import asyncapi_document
from bus.enforcer.pipeline import process
from bus.envelope.kafka_binding import header_map, verify_record
from tests.unit.test_enforcer_pipeline import NOW, SNAPSHOT, STATE, _input


@pytest.mark.parametrize(("consumer", "purpose"), [("tax-by", "tax"), ("benefits", "benefits")])
def test_a_real_delivery_fits_its_consumers_contract(consumer: str, purpose: str) -> None:
    document = asyncapi_document(SNAPSHOT, consumer, NOW.timestamp())
    channel = document["channels"][purpose]
    message = channel["messages"]["population.AddressChanged.v1"]
    outcome = process(_input(), STATE, NOW)
    (delivery,) = [r for r in outcome.records if r.topic == channel["address"]]
    Draft7Validator(message["headers"]).validate(header_map(delivery.headers))
    assert delivery.key is not None
    Draft7Validator(message["bindings"]["kafka"]["key"]).validate(delivery.key.decode())
    verified = verify_record(delivery.value, delivery.headers, STATE.keys)
    assert set(verified.fields) == set(message["payload"]["properties"])
