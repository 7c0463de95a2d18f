"""CloudEvents 1.0 attributes of a bus event, as signed claims and as Kafka `ce_` headers."""

from dataclasses import dataclass
from datetime import UTC, datetime

SPECVERSION = "1.0"
CONTENT_TYPE = "application/sd-jwt"


@dataclass(frozen=True)
class EventAttributes:
    """What the envelope says about an event. The subject is not here: it is personal data and
    travels as a disclosure (and, on ingress topics only, as record key and `ce_subject`)."""

    id: str
    source: str
    type: str
    version: int
    time: datetime
    dataschema: str
    specversion: str = SPECVERSION
    datacontenttype: str = CONTENT_TYPE

    def claims(self) -> dict[str, str | int]:
        """The signed clear claims; `iss`/`iat` are the JWT names of source and time."""
        return {
            "iss": self.source,
            "iat": int(self.time.timestamp()),
            "ce_specversion": self.specversion,
            "ce_id": self.id,
            "ce_type": self.type,
            "ce_eventversion": self.version,
            "ce_time": format_time(self.time),
            "ce_dataschema": self.dataschema,
            "ce_datacontenttype": self.datacontenttype,
        }


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds, as CloudEvents' `time` wants it."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 time (`Z` read as UTC); a text without a zone gives a naive time,
    which callers refuse. ValueError if it is not a time."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
