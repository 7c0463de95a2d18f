"""POSTs one delivery to the receiver until it is accepted, refused for good or the retry bound is
reached, each attempt signed anew (Standard Webhooks) with the same idempotency key."""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx2 as httpx

from bus.bridge.metrics import BridgeMetrics
from bus.bridge.verdict import Verdict, verdict
from bus.bridge.webhook_request import WebhookRequest
from bus.bridge.webhook_signature import signature_headers
from bus.keys import AgencySigningKey
from bus.util.stopping import stopped_within
from consumers.retry import RetryPolicy

log = logging.getLogger(__name__)
# Enough of a refusal's body (a problem+json, usually) for the dead-letter record.
_BODY_SHOWN = 500


@dataclass(frozen=True)
class PostOutcome:
    """The last attempt's verdict (RETRY: the bound was reached), its status (None: no answer),
    what happened in a few words, and the attempts made."""

    verdict: Verdict
    status: int | None
    detail: str
    attempts: int


class WebhookPoster:
    """Sends deliveries to one URL.

    Parameters:
        client: the HTTP client (TLS verification, timeouts, connection pool).
        url: where to POST.
        key: the bridge's key; it signs each attempt.
        retry: attempts in all and the waits between them.
        metrics: where attempts, retries and durations are counted.
        clock: Unix time now, for the signature's timestamp (a test's own clock).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        key: AgencySigningKey,
        retry: RetryPolicy,
        metrics: BridgeMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._client = client
        self._key = key
        self._retry = retry
        self._metrics = metrics
        self._clock = clock

    async def post(self, request: WebhookRequest, stop: asyncio.Event) -> PostOutcome | None:
        """Deliver `request`; None if `stop` was set while waiting to retry (the delivery stays
        uncommitted, so it comes again after a restart)."""
        attempt = 0
        while True:
            attempt += 1
            status, detail = await self._attempt(request)
            outcome = PostOutcome(verdict(status), status, detail, attempt)
            if outcome.verdict is not Verdict.RETRY or attempt == self._retry.attempts:
                return outcome
            self._metrics.retries.labels(str(status) if status else detail.split(":")[0]).inc()
            delay = self._retry.delay_after(attempt)
            log.warning(
                "POST of %s failed (%s), attempt %d/%d; retrying in %.1fs",
                request.key,
                detail,
                attempt,
                self._retry.attempts,
                delay,
                extra={"idempotency_key": request.key},
            )
            if await stopped_within(stop, delay):
                return None

    async def _attempt(self, request: WebhookRequest) -> tuple[int | None, str]:
        signed = signature_headers(self._key, request.key, int(self._clock()), request.body)
        started = time.perf_counter()
        try:
            response = await self._client.post(
                self.url, content=request.body, headers={**request.headers, **signed}
            )
        except httpx.TransportError as exc:  # no answer: connection refused, reset, timeout
            return None, f"{type(exc).__name__}: {exc}"[:_BODY_SHOWN]
        finally:
            self._metrics.http.observe(time.perf_counter() - started)
        detail = f"HTTP {response.status_code} {response.reason_phrase}"
        if response.status_code >= 300 and response.content:
            detail += f": {response.text[:_BODY_SHOWN]}"
        return response.status_code, detail
