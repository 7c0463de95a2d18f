"""The webhook bridge's pure parts: what a status means, the idempotency key, the Standard
Webhooks signature, the CloudEvents HTTP headers, and the reference receiver's answers."""

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bus.bridge.cloudevents_http import http_headers, kafka_headers
from bus.bridge.idempotency import idempotency_key
from bus.bridge.receipts import ReceiptStore
from bus.bridge.receiver import receiver_app
from bus.bridge.verdict import Verdict, verdict
from bus.bridge.webhook_request import webhook_request
from bus.bridge.webhook_signature import (
    WebhookSignatureError,
    signature_headers,
    verify_signature,
)
from bus.envelope.codec import issue_event
from bus.envelope.kafka_binding import header_map, ingress_record
from bus.keys import AgencySigningKey
from bus.record.erase_by import erase_by_text
from consumers.delivery_check import check_delivery
from tests.support.events import address_changed
from tests.support.webhook_receiver import receiver_keys

PRODUCER = AgencySigningKey.generate("muni-muc")
BRIDGE = AgencySigningKey.generate("tax-by")
BRIDGE_CHECK, PRODUCERS = receiver_keys(BRIDGE, PRODUCER)
NOW = 1_800_000_000


def delivery(purpose: str = "tax") -> tuple[bytes, list[tuple[str, bytes | None]]]:
    """A delivery as the enforcer writes it (all fields disclosed)."""
    record = ingress_record(issue_event(address_changed(), PRODUCER))
    extra = [
        ("bus_purpose", purpose.encode()),
        ("bus_grant", b"g-tax"),
        ("bus_erase_by", erase_by_text(datetime.now(UTC), 30).encode()),
    ]
    return record.value, [*record.headers, *extra]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, Verdict.RETRY),
        (200, Verdict.DELIVERED),
        (201, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (301, Verdict.REFUSED),
        (400, Verdict.REFUSED),
        (401, Verdict.REFUSED),
        (404, Verdict.REFUSED),
        (408, Verdict.RETRY),
        (409, Verdict.REFUSED),
        (422, Verdict.REFUSED),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (599, Verdict.RETRY),
        (600, Verdict.REFUSED),
    ],
)
def test_a_status_is_delivered_retried_or_refused(status: int | None, expected: Verdict) -> None:
    assert verdict(status) is expected


def test_the_idempotency_key_is_the_same_for_the_same_event_and_purpose_only() -> None:
    key = idempotency_key("muni-muc", "e-1", "tax")
    assert key == idempotency_key("muni-muc", "e-1", "tax")
    assert len(key) == 64
    others = {
        idempotency_key("muni-muc", "e-1", "benefits"),
        idempotency_key("muni-muc", "e-2", "tax"),
        idempotency_key("muni-mu", "ce-1", "tax"),  # no separator to shift
    }
    assert key not in others
    assert len(others) == 3


def test_a_signature_verifies_and_any_change_or_a_stale_timestamp_does_not() -> None:
    body = b"eyJ...~"
    headers = signature_headers(BRIDGE, "id-1", NOW, body)
    assert headers["webhook-signature"].startswith("v1a,")
    assert verify_signature(headers, body, BRIDGE_CHECK, NOW + 10) == "id-1"
    rotated = {**headers, "webhook-signature": "v1a,AAAA " + headers["webhook-signature"]}
    assert verify_signature(rotated, body, BRIDGE_CHECK, NOW) == "id-1"
    other = AgencySigningKey.generate("evil")
    wrong = [
        (headers, body + b"x", NOW),
        ({**headers, "webhook-id": "id-2"}, body, NOW),
        ({**headers, "webhook-timestamp": str(NOW + 1)}, body, NOW),
        (signature_headers(other, "id-1", NOW, body), body, NOW),
        (headers, body, NOW + 301),
        (headers, body, NOW - 301),
        ({**headers, "webhook-signature": "v1,c2lnbmF0dXJl"}, body, NOW),
        ({**headers, "webhook-signature": "v1a,not base64!"}, body, NOW),
        ({**headers, "webhook-timestamp": "1e9"}, body, NOW),
        ({k: v for k, v in headers.items() if k != "webhook-id"}, body, NOW),
    ]
    for changed, sent, now in wrong:
        with pytest.raises(WebhookSignatureError):
            verify_signature(changed, sent, BRIDGE_CHECK, now)


def test_the_request_carries_the_token_as_delivered_and_its_headers_verify_again() -> None:
    value, headers = delivery()
    checked = check_delivery(value, headers, PRODUCERS, "tax")
    request = webhook_request(checked, headers)
    assert request.body == value
    a = checked.verified.attributes
    assert request.key == idempotency_key(a.source, a.id, "tax")
    assert request.headers["idempotency-key"] == request.key
    assert request.headers["content-type"] == "application/sd-jwt"
    assert request.headers["ce-buspurpose"] == "tax"
    assert request.headers["ce-busgrant"] == "g-tax"
    assert {"ce-specversion", "ce-id", "ce-source", "ce-type", "ce-time", "ce-buseraseby"} <= set(
        request.headers
    )
    assert all(name == name.lower() for name in request.headers)
    back = kafka_headers(request.headers.items())
    assert header_map(back) == {k: v for k, v in header_map(headers).items() if k != "bus_snapshot"}
    assert http_headers(header_map(back)) == {
        k: v for k, v in request.headers.items() if k != "idempotency-key"
    }


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    store = ReceiptStore(tmp_path / "receiver.db")
    return TestClient(receiver_app(store, BRIDGE_CHECK, PRODUCERS))


def post(
    client: TestClient, value: bytes, headers: dict[str, str], key: AgencySigningKey = BRIDGE
) -> int:
    signed = signature_headers(key, headers["idempotency-key"], int(time.time()), value)
    return client.post("/", content=value, headers={**headers, **signed}).status_code


def test_the_receiver_stores_once_and_refuses_what_does_not_verify(client: TestClient) -> None:
    value, kafka = delivery()
    request = webhook_request(check_delivery(value, kafka, PRODUCERS, "tax"), kafka)
    assert post(client, value, request.headers) == 201
    assert post(client, value, request.headers) == 200  # a duplicate: not stored again
    assert post(client, value, request.headers, AgencySigningKey.generate("tax-by")) == 401
    response = client.post("/", content=value, headers=request.headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    tampered = value.replace(b"~", b"~x", 1)
    assert post(client, tampered, request.headers) == 400
    other_purpose = {**request.headers, "ce-buspurpose": "benefits"}
    assert post(client, value, other_purpose) == 400  # the key (the signed id) binds the purpose
    no_deadline = {k: v for k, v in request.headers.items() if k != "ce-buseraseby"}
    assert post(client, value, no_deadline) == 400
