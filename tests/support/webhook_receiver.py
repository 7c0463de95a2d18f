"""The reference receiver (bus/bridge/receiver.py) under a real uvicorn server in a thread of the
test process, with a script of faults it plays before passing requests on: answer 500 (or any
status), or hold a request for some seconds first (the bridge times out; the receiver stores it
anyway, so the retry is a duplicate POST)."""

import asyncio
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from fastapi import Request, Response

from bus.bridge.receipts import ReceiptStore
from bus.bridge.receiver import receiver_app
from bus.keys import AgencySigningKey, KeyStore
from bus.keys.keystore import public_key_from_pem
from bus.keys.signature_check import SignatureCheck
from tests.support.private_broker import free_ports


@dataclass(frozen=True)
class Fault:
    """What the receiver does to one request: answer `status` at once, or handle it and wait
    `delay_s` before answering (status None)."""

    status: int | None = None
    delay_s: float = 0.0


@dataclass
class Receiver:
    """A running receiver: its URL, its database and the faults still to be played."""

    url: str
    database: Path
    faults: list[Fault] = field(default_factory=list)
    requests: int = 0

    def rows(self) -> tuple[int, int, int]:
        """(deliveries stored, distinct event ids, POSTs in all)."""
        with sqlite3.connect(self.database) as db:
            row = db.execute(
                "SELECT count(*), count(DISTINCT event_id), coalesce(sum(posts), 0) FROM deliveries"
            ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])


def receiver_keys(
    bridge_key: AgencySigningKey, producer_key: AgencySigningKey
) -> tuple[SignatureCheck, KeyStore]:
    """The bridge's signature check and the producers' key store, as the receiver is given them."""
    bridge = public_key_from_pem("bridge", bridge_key.public_pem()).check_signature
    producers = KeyStore([public_key_from_pem(producer_key.agency_id, producer_key.public_pem())])
    return bridge, producers


@contextmanager
def running_receiver(
    database: Path,
    bridge_key: AgencySigningKey,
    producer_key: AgencySigningKey,
    port: int | None = None,
) -> Iterator[Receiver]:
    """Serve the receiver on 127.0.0.1 (`port`, else a free one) until the block ends."""
    port = port or free_ports(1)[0]
    store = ReceiptStore(database)
    app = receiver_app(store, *receiver_keys(bridge_key, producer_key))
    receiver = Receiver(f"http://127.0.0.1:{port}/", database)

    @app.middleware("http")
    async def faults(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        receiver.requests += 1
        fault = receiver.faults.pop(0) if receiver.faults else Fault()
        if fault.status is not None:
            return Response(status_code=fault.status, content=b"scripted fault")
        response = await call_next(request)
        await asyncio.sleep(fault.delay_s)  # stored, but the answer comes late
        return response

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"receiver-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "the receiver did not start"
        assert time.monotonic() < deadline, "the receiver did not start in time"
        time.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()
