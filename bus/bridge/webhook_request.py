"""The POST for one verified delivery: the SD-JWT presentation exactly as delivered (so the
receiver can verify the producer's signature itself), CloudEvents binary-mode headers and an
idempotency key. webhook_signature.py signs it anew for each attempt."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from bus.bridge.cloudevents_http import http_headers
from bus.bridge.idempotency import idempotency_key
from bus.envelope.kafka_binding import header_map
from consumers.delivery_check import CheckedDelivery

IDEMPOTENCY_KEY = "idempotency-key"


@dataclass(frozen=True)
class WebhookRequest:
    """One delivery as an HTTP request, before it is signed."""

    key: str  # the idempotency key; also the Standard Webhooks message id
    body: bytes = field(repr=False)
    headers: dict[str, str] = field(repr=False)


def webhook_request(
    checked: CheckedDelivery, kafka_headers: Iterable[tuple[str, bytes | None]]
) -> WebhookRequest:
    """The request for a delivery that passed `check_delivery` (so its headers are the verified
    ones, and the purpose header is the purpose it was read for)."""
    headers = http_headers(header_map(kafka_headers))
    a = checked.verified.attributes
    key = idempotency_key(a.source, a.id, headers["ce-buspurpose"])
    return WebhookRequest(key, checked.token, {**headers, IDEMPOTENCY_KEY: key})
