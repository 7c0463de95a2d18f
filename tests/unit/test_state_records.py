"""What a record on the state topics must be: a registration naming the subscription its key names;
a policy set keyed by its own content hash. Anything else is refused with the reason."""

import json
from pathlib import Path

import pytest

from bus.control.policy_store import policy_from_record, snapshot_key
from bus.control.subscriptions import subscription_from_record, subscription_key
from bus.policy.facts import Subscription
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import canonical_bytes

REFERENCE = Path(__file__).resolve().parents[2] / "policies" / "reference"
SUBSCRIPTION = Subscription("tax-by", "population.AddressChanged", "tax-residence")
REGISTRATION = {
    "consumer": "tax-by",
    "event_type": "population.AddressChanged",
    "purpose": "tax-residence",
    "grant_id": "tax-by-address",
    "registered_at": "2026-12-02T12:00:00Z",
}


def test_a_registration_reads_back_as_its_subscription() -> None:
    value = json.dumps(REGISTRATION).encode()
    assert subscription_from_record(subscription_key(SUBSCRIPTION), value) == SUBSCRIPTION


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\xff\xfe", "not a registration"),
        (b"[]", "not a registration"),
        (json.dumps({**REGISTRATION, "consumer": 5}).encode(), "consumer"),
        (json.dumps({**REGISTRATION, "purpose": ""}).encode(), "purpose"),
        (json.dumps({**REGISTRATION, "extra": "x"}).encode(), "extra"),
        # Under this key, a tombstone for tax-by would leave kba-de subscribed.
        (json.dumps({**REGISTRATION, "consumer": "kba-de"}).encode(), "its key does not name"),
    ],
)
def test_anything_else_on_the_registry_is_refused(value: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        subscription_from_record(subscription_key(SUBSCRIPTION), value)


def test_a_published_policy_set_reads_back() -> None:
    document = canonical_bytes(load_policy_set(REFERENCE))
    assert policy_from_record(snapshot_key(document), document) is not None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b"{}", "missing"),
        (b'{"territories": [{"code": 1}]}', "not a policy set"),
    ],
)
def test_anything_else_on_the_policy_topic_is_refused(value: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        policy_from_record(b"sha256:x", value)


def test_a_policy_set_under_another_key_is_refused() -> None:
    document = canonical_bytes(load_policy_set(REFERENCE))
    with pytest.raises(ValueError, match="not its content hash"):
        policy_from_record(b"sha256:" + b"0" * 64, document)
    # The same set in other bytes: the audit indexer keeps snapshots by the hash of their bytes,
    # so only the canonical form can be what a decision's snapshot hash names.
    reformatted = json.dumps(json.loads(document), indent=1).encode()
    with pytest.raises(ValueError, match="not its content hash"):
        policy_from_record(snapshot_key(document), reformatted)


def test_a_policy_set_giving_an_agency_the_bus_s_own_principal_is_refused() -> None:
    document = json.loads(canonical_bytes(load_policy_set(REFERENCE)))
    document["agencies"][0]["kafka_principal"] = "User:audit-indexer"
    value = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(ValueError, match="the bus's own principal User:audit-indexer"):
        policy_from_record(snapshot_key(value), value)
