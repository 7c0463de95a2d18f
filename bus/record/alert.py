"""An alert: what the watch raises to the compacted alerts topic.

Its key is rule × subject of the alert × window: an alert raised again (after a restart, or with
higher figures later in the same window) replaces the earlier one on the compacted topic, so
duplicates are harmless and the newest figures win."""

from datetime import UTC, datetime

import msgspec

ALERT_FORMAT = 1


class AlertDecision(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A decision behind the alert: the audit record's `topic:partition:offset`, the event id
    and the subject's pseudonym (ids and pseudonyms only, never a person's data)."""

    position: str
    event_id: str | None
    subject_pseudonym: str | None


class Alert(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One alert.

    Parameters:
        key: `rule|subject|window_start` (the Kafka key too).
        rule: the rule's name (as in the thresholds file).
        subject_kind: what `subject` is: `consumer-purpose`, `consumer`, `person` (a
            pseudonym), `producer`.
        subject: e.g. `tax-office/tax-assessment`, a pseudonym, a producer id.
        window_start, window_end: RFC 3339, UTC.
        figures: the numbers the rule compared (count, limit, median, …).
        summary: one sentence for a person reading the alert.
        decisions: the most recent decisions behind it (at most a few; the rest are found by
            the subject and the window).
        raised_at: when this version of the alert was raised.
    """

    format: int = ALERT_FORMAT
    key: str
    rule: str
    subject_kind: str
    subject: str
    window_start: str
    window_end: str
    figures: dict[str, float]
    summary: str
    decisions: tuple[AlertDecision, ...]
    raised_at: str

    def to_json_bytes(self) -> bytes:
        """The alert as written to the alerts topic."""
        return _encode(self)

    @classmethod
    def from_json_bytes(cls, data: bytes) -> "Alert":
        """An alert read back (strictly: msgspec.ValidationError on anything else)."""
        return _decode(data)


def alert_key(rule: str, subject: str, window_start: float) -> str:
    """The alert's identity: one alert per rule, subject and window."""
    return f"{rule}|{subject}|{rfc3339(window_start)}"


def rfc3339(epoch_seconds: float) -> str:
    """UTC, seconds precision (windows start on whole seconds)."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Alert).decode
