"""The checks a delivery passes before anything acts on it: the producer's signature (and the clear
headers agreeing with it), the purpose it was delivered for and the erasure deadline the bus set.
The consumer SDK and the webhook bridge (bus/bridge) both use them, so both refuse the same ones."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from bus.envelope.codec import VerifiedEvent
from bus.envelope.errors import MalformedTokenError
from bus.envelope.kafka_binding import header_map, verify_record
from bus.keys import KeyStore
from bus.record.erase_by import ERASE_BY_HEADER, parse_erase_by
from consumers.dead_letters import NO_ERASE_BY, WRONG_PURPOSE
from consumers.errors import ConsumerError

PURPOSE_HEADER = "bus_purpose"


@dataclass(frozen=True)
class CheckedDelivery:
    """A delivery that passed `check_delivery`: the SD-JWT presentation as delivered, the verified
    event and its erasure deadline."""

    token: bytes = field(repr=False)
    verified: VerifiedEvent
    erase_by: datetime


class DeliveryRefusedError(ConsumerError):
    """A delivery whose signature holds but whose bus headers do not: `reason` is its
    dead-letter reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def check_delivery(
    value: bytes | None,
    headers: Iterable[tuple[str, bytes | None]],
    keys: KeyStore,
    purpose: str,
) -> CheckedDelivery:
    """Verify a delivery read from the delivery topic of `purpose`. EnvelopeError if the token or
    its clear headers do not verify, DeliveryRefusedError if it was not delivered for `purpose` or
    has no erasure deadline; both carry the dead-letter `reason`."""
    if not value:
        raise MalformedTokenError("record has no value")
    listed = list(headers)
    verified = verify_record(value, listed, keys)
    by_name = header_map(listed)
    if by_name.get(PURPOSE_HEADER) != purpose:
        raise DeliveryRefusedError(WRONG_PURPOSE, f"not delivered for purpose {purpose!r}")
    return CheckedDelivery(value, verified, _deadline(by_name.get(ERASE_BY_HEADER)))


def _deadline(text: str | None) -> datetime:
    """The delivery's erasure deadline; refused if absent or not a time with a zone. Fail closed:
    data applied without a deadline would never be found due, so it is not applied at all."""
    if text is None:
        raise DeliveryRefusedError(
            NO_ERASE_BY, f"no {ERASE_BY_HEADER} header: the enforcer set no deadline"
        )
    try:
        return parse_erase_by(text)
    except ValueError:
        raise DeliveryRefusedError(
            NO_ERASE_BY, f"{ERASE_BY_HEADER} {text[:40]!r} is no time"
        ) from None
