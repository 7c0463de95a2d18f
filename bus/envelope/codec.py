"""Events ⇄ signed envelopes: model → JSON field values → disclosures → Ed25519 signature.

`issue_event` is what a producer does, `VerifiedEvent.present` what the enforcer does for each
permitted subscription, `verify_event` what anyone holding the issuer's public key does.
"""

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uuid_utils
from pydantic import ValidationError

from bus.catalog import CATALOG, Catalog, Event, UnknownEventTypeError
from bus.envelope import sdjwt
from bus.envelope.attributes import CONTENT_TYPE, SPECVERSION, EventAttributes, parse_time
from bus.envelope.errors import (
    AttributeMismatchError,
    InvalidFieldError,
    MalformedTokenError,
    MissingAttributeError,
    UnexpectedClaimError,
    UnknownTypeError,
)
from bus.keys import AgencySigningKey, KeyStore

REQUIRED_CLAIMS = (
    "iss",
    "iat",
    "ce_specversion",
    "ce_id",
    "ce_type",
    "ce_eventversion",
    "ce_time",
    "ce_dataschema",
    "ce_datacontenttype",
)
# Exactly what EventAttributes.claims() signs, plus the SD-JWT's own `_sd`/`_sd_alg` (checked by
# sdjwt.verify): any other clear claim would travel unchecked to every consumer.
ALLOWED_CLAIMS = frozenset((*REQUIRED_CLAIMS, *sdjwt.SD_MEMBERS))
# Unix seconds of 0001-01-01 and 9999-12-31T23:59:59 UTC, the times ce_time can name: a larger
# iat (JSON has no limit) would overflow the float it is compared as.
_EARLIEST_IAT, _LATEST_IAT = -62_135_596_800, 253_402_300_799
TEXT_CLAIMS = (
    "iss",
    "ce_specversion",
    "ce_id",
    "ce_type",
    "ce_time",
    "ce_dataschema",
    "ce_datacontenttype",
)


@dataclass(frozen=True)
class IssuedEvent:
    """A signed event as `issue_event` returns it: the attributes, the subject (the record key on
    ingress) and the SD-JWT with every field disclosed."""

    attributes: EventAttributes
    subject: str = field(repr=False)
    token: str = field(repr=False)


@dataclass(frozen=True)
class VerifiedEvent:
    """A verified token: its attributes and the typed values of the fields it discloses, no more."""

    attributes: EventAttributes
    event_class: type[Event]
    fields: Mapping[str, Any] = field(repr=False)
    token: sdjwt.VerifiedSdJwt = field(repr=False)

    @property
    def subject(self) -> str | None:
        """The person's identifier if its field was disclosed, else None."""
        value = self.fields.get(self.event_class.subject_field)
        return None if value is None else str(value)

    def present(self, names: Collection[str]) -> str:
        """The token carrying only the disclosures of the fields in `names`, still signed."""
        return self.token.present(names)

    def require_complete(self) -> None:
        """Raise unless every field of the event type was disclosed (as producers must)."""
        missing = set(self.event_class.field_names()) - set(self.fields)
        if missing:
            raise MissingAttributeError(f"fields not disclosed: {', '.join(sorted(missing))}")

    def to_event(self) -> Event:
        """The whole event; only possible when every field was disclosed."""
        self.require_complete()
        return self.event_class.model_validate(self.fields)


def issue_event(
    event: Event,
    key: AgencySigningKey,
    *,
    event_id: str | None = None,
    time: datetime | None = None,
) -> IssuedEvent:
    """Sign `event` as `key`'s agency; every field becomes its own disclosure."""
    attributes = EventAttributes(
        id=event_id or str(uuid_utils.uuid7()),
        source=key.agency_id,
        type=event.event_type,
        version=event.event_version,
        time=time or datetime.now(UTC),
        dataschema=event.dataschema(),
    )
    token = sdjwt.issue(attributes.claims(), event.field_values_json(), key)
    return IssuedEvent(attributes, event.subject(), token)


def present(token: str | bytes, names: Collection[str]) -> str:
    """`token` with only the disclosures of the fields in `names`, without verifying it."""
    return sdjwt.present(token, names)


def verify_event(token: str | bytes, keys: KeyStore, catalog: Catalog = CATALOG) -> VerifiedEvent:
    """Verify `token` against its issuer's key in `keys` and type its disclosed fields.

    Refuses (an EnvelopeError naming the problem) a bad signature, an unknown key or event type, a
    missing, extra or ill-formed signed attribute, and a disclosure that was altered, added,
    repeated or does not validate against the event type of `catalog`.
    """
    resolved: list[type[Event]] = []

    def field_names(claims: Mapping[str, Any]) -> Collection[str]:
        resolved.append(_event_class(claims, catalog))
        return resolved[0].field_names()

    verified = sdjwt.verify(token, keys, field_names)
    event_class = resolved[0]
    attributes = _attributes(verified.claims)
    typed: dict[str, Any] = {}
    for name, disclosure in verified.disclosures.items():
        try:
            typed[name] = event_class.validate_field(name, disclosure.value)
        except ValidationError as exc:
            problem = exc.errors()[0]["msg"]
            raise InvalidFieldError(
                f"field {name!r} of {attributes.type} v{attributes.version}: {problem}"
            ) from None
    return VerifiedEvent(attributes, event_class, typed, verified)


def _event_class(claims: Mapping[str, Any], catalog: Catalog) -> type[Event]:
    missing = [c for c in REQUIRED_CLAIMS if claims.get(c) in (None, "")]
    if missing:
        raise MissingAttributeError(f"signed attributes missing: {', '.join(missing)}")
    if len(claims) != len(ALLOWED_CLAIMS):  # all required ones are present: any more is extra
        extra = sorted(claims.keys() - ALLOWED_CLAIMS)
        names = ", ".join(repr(n[:40]) for n in extra[:5])
        raise UnexpectedClaimError(f"signed claims the bus does not issue: {names}")
    wrong = [c for c in TEXT_CLAIMS if not isinstance(claims[c], str)]
    if wrong:
        raise MalformedTokenError(f"signed attributes must be strings: {', '.join(wrong)}")
    version, issued_at = claims["ce_eventversion"], claims["iat"]
    if type(version) is not int or type(issued_at) is not int:  # bool is an int too
        raise MalformedTokenError("ce_eventversion and iat must be integers")
    if not _EARLIEST_IAT <= issued_at <= _LATEST_IAT:  # JSON integers have no bound
        raise MalformedTokenError("iat lies outside the years 1-9999 that ce_time can name")
    if claims["ce_specversion"] != SPECVERSION or claims["ce_datacontenttype"] != CONTENT_TYPE:
        raise MalformedTokenError(
            f"ce_specversion must be {SPECVERSION!r} and ce_datacontenttype {CONTENT_TYPE!r}"
        )
    try:
        event_class = catalog.get(str(claims["ce_type"]), version)
    except UnknownEventTypeError as exc:
        raise UnknownTypeError(str(exc)) from None
    if claims["ce_dataschema"] != event_class.dataschema():
        raise MalformedTokenError(
            f"ce_dataschema {claims['ce_dataschema']!r} does not match {event_class.dataschema()!r}"
        )
    return event_class


def _attributes(claims: Mapping[str, Any]) -> EventAttributes:
    time = _time(claims["ce_time"])
    if abs(time.timestamp() - claims["iat"]) >= 1:
        raise AttributeMismatchError("iat and ce_time name different moments")
    event_id = claims["ce_id"]
    if not _is_canonical_uuid(event_id):
        raise MalformedTokenError(f"ce_id {event_id[:60]!r} is not a UUID in canonical form")
    return EventAttributes(
        id=event_id,
        source=str(claims["iss"]),
        type=str(claims["ce_type"]),
        version=int(claims["ce_eventversion"]),
        time=time,
        dataschema=str(claims["ce_dataschema"]),
        specversion=str(claims["ce_specversion"]),
        datacontenttype=str(claims["ce_datacontenttype"]),
    )


def _time(text: str) -> datetime:
    """An RFC 3339 time with a zone, in UTC: a naive time is ambiguous and cannot be compared."""
    try:
        moment = parse_time(text)
        if moment.utcoffset() is None:
            raise MalformedTokenError(f"ce_time {text[:60]!r} has no time zone")
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # not a time; or, shifted to UTC, outside years 1-9999
        raise MalformedTokenError(f"ce_time {text[:60]!r} is not an RFC 3339 time") from None


# str(uuid.UUID(...))'s spelling: lower-case hex in groups of 8-4-4-4-12. uuid.UUID also reads
# braces, a urn: prefix, upper case and missing hyphens; the bus wants one spelling, so that one
# event cannot be told apart from itself by the way its id is written.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _is_canonical_uuid(text: str) -> bool:
    # A regular expression, not a round trip through uuid.UUID: a third of the cost, per event.
    return _CANONICAL_UUID.fullmatch(text) is not None
