"""An interest marker as it travels: a consumer's statement that it has a case about a person
(the Dutch BRP's afnemersindicatie), so events about them may reach it for one purpose.

A marker is a record on the consumer's own marker topic (`interest_topic`): the key is the
subject's identifier exactly as the ingress records key it, the value this struct; a tombstone
(no value) removes the marker. Consumer and purpose are the topic's, which only that consumer may
write: nothing inside the value can name another agency. Read strictly: an unknown key, a wrong
type or an unparsable time is refused, never half-read.
"""

import re
from datetime import datetime

import msgspec

from bus.catalog.population import PERSON_ID_PATTERN
from bus.envelope.attributes import format_time, parse_time
from bus.errors import BusError

# Every subject of the catalogue is a national person identifier of this form.
_SUBJECT = re.compile(PERSON_ID_PATTERN)


class InterestMarker(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The value of a marker record.

    Parameters:
        expires_at: RFC 3339 instant after which the marker no longer counts; None: until removed.
    """

    expires_at: str | None = None


class MarkerError(BusError, ValueError):
    """A marker that is not one: the enforcer quarantines such a record with this sentence, the
    SDK refuses to write it."""


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(InterestMarker).decode


def marker_value(expires_at: datetime | None) -> bytes:
    """The record value of a marker that holds until `expires_at` (None: until removed)."""
    if expires_at is not None and expires_at.tzinfo is None:
        raise MarkerError("an expiry needs a time zone")
    moment = None if expires_at is None else format_time(expires_at)
    return _encode(InterestMarker(moment))


def read_marker(key: bytes | None, value: bytes) -> tuple[str, float]:
    """The subject and expiry (epoch seconds; infinity without one) of a marker record."""
    subject = read_subject(key)
    try:
        marker = _decode(value)
        if marker.expires_at is None:
            return subject, float("inf")
        moment = parse_time(marker.expires_at)
    except (msgspec.DecodeError, ValueError) as exc:
        raise MarkerError(f"the value is not an interest marker: {exc}") from exc
    if moment.tzinfo is None:
        raise MarkerError("expires_at has no time zone")
    return subject, moment.timestamp()


def read_subject(key: bytes | None) -> str:
    """The subject a marker record (or its tombstone) is about: its key."""
    if not key:
        raise MarkerError("a marker record needs the subject's identifier as its key")
    try:
        subject = key.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MarkerError("the key is not UTF-8") from exc
    if not _SUBJECT.fullmatch(subject):
        raise MarkerError(
            f"the key is no person identifier (letters, digits and '-', 4 to 40: {PERSON_ID_PATTERN})"
        )
    return subject
