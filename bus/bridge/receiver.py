"""A reference receiver for the webhook bridge, as a municipal back office would write one:
verify the bridge's Standard Webhooks signature and timestamp, verify the SD-JWT body against the
producer's public key exactly as the consumer SDK does, store the delivery once under its
idempotency key, and answer 2xx only once it is committed.

401 for a request the bridge did not sign (or signed too long ago), 400 for a body or headers that
do not verify, both as problem+json (RFC 9457). A duplicate is answered 200 and not stored twice.
"""

import time
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from bus.bridge.cloudevents_http import PURPOSE, kafka_headers
from bus.bridge.idempotency import idempotency_key
from bus.bridge.receipts import ReceiptStore
from bus.bridge.webhook_request import IDEMPOTENCY_KEY
from bus.bridge.webhook_signature import TOLERANCE_S, WebhookSignatureError, verify_signature
from bus.envelope.errors import EnvelopeError
from bus.keys import KeyStore
from bus.keys.signature_check import SignatureCheck
from consumers.delivery_check import DeliveryRefusedError, check_delivery

# An SD-JWT of one event is a few kilobytes; anything far larger is not one.
MAX_BODY_BYTES = 1 << 20


def receiver_app(
    store: ReceiptStore,
    bridge: SignatureCheck,
    keys: KeyStore,
    tolerance_s: int = TOLERANCE_S,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The receiver: POST / takes one delivery. `bridge` checks the bridge's signatures, `keys`
    are the producers' public keys."""
    app = FastAPI(title="govbus webhook receiver", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/")
    async def receive(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _problem(413, "Too large", f"a delivery is at most {MAX_BODY_BYTES} bytes")
        headers = request.headers
        try:
            webhook_id = verify_signature(headers, body, bridge, clock(), tolerance_s)
        except WebhookSignatureError as exc:
            return _problem(401, "Not signed by the bridge", str(exc))
        purpose = headers.get(PURPOSE, "")
        try:
            checked = check_delivery(body, kafka_headers(headers.items()), keys, purpose)
        except (EnvelopeError, DeliveryRefusedError) as exc:
            return _problem(400, "The delivery does not verify", f"{exc.reason}: {exc}")
        a = checked.verified.attributes
        key = idempotency_key(a.source, a.id, purpose)
        # The signed id binds the purpose header to the bridge's signature.
        if webhook_id != key or headers.get(IDEMPOTENCY_KEY) != key:
            return _problem(400, "Wrong idempotency key", f"this delivery's key is {key}")
        stored = store.store(key, purpose, checked)
        return JSONResponse({"idempotency_key": key, "stored": stored}, 201 if stored else 200)

    return app


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status,
        media_type="application/problem+json",
    )
