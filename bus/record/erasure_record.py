"""The erasure record: a consumer agency's statement that it erased its copy of one delivery.

Written by the consumer SDK to the agency's own topic `bus.erasures.<agency>` (only that agency
may write it), read by the audit trail. It names the delivery (source, event id, purpose) and the
times, never the person: the audit trail joins it to the PERMIT decision it answers. Which agency
erased is the topic's, not the record's say: a record cannot speak for another agency.
"""

import msgspec

from bus.errors import BusError
from bus.record.erase_by import parse_erase_by

FORMAT_VERSION = 1


class ErasureRecordError(BusError):
    """Bytes on an erasure topic that are not an erasure record of a format this reader knows."""


class ErasureRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One erased delivery: `event_id` from `source`, delivered for `purpose`, due by `erase_by`,
    erased at `erased_at` (both RFC 3339 UTC)."""

    source: str
    event_id: str
    purpose: str
    event_type: str
    erase_by: str
    erased_at: str
    format_version: int = FORMAT_VERSION

    def to_json_bytes(self) -> bytes:
        """The record as written to the erasure topic."""
        return msgspec.json.encode(self)

    @classmethod
    def from_json_bytes(cls, value: bytes) -> "ErasureRecord":
        """Read strictly (both times RFC 3339 with a zone); ErasureRecordError with the reason if
        `value` is not a record."""
        try:
            record = msgspec.json.decode(value, type=cls)
        except msgspec.DecodeError as exc:
            raise ErasureRecordError(f"not an erasure record: {exc}") from None
        if record.format_version != FORMAT_VERSION:
            raise ErasureRecordError(f"erasure record format {record.format_version} unknown")
        for name in ("erase_by", "erased_at"):
            try:
                parse_erase_by(getattr(record, name))
            except ValueError:
                raise ErasureRecordError(f"{name} is not a time with a zone") from None
        return record
