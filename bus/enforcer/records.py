"""The records the enforcer writes, as its producer sends them: deliveries, quarantine copies and
audit records (whose bytes bus/record/audit_record.py defines)."""

from collections.abc import Sequence
from dataclasses import dataclass, field

Headers = list[tuple[str, bytes]]
# Headers as Kafka carries them: a header may have no value. Quarantine copies them as they came.
RecordHeaders = Sequence[tuple[str, bytes | None]]


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record to write in the input's transaction: its topic, key, value and headers."""

    topic: str
    key: bytes | None = field(repr=False)
    value: bytes = field(repr=False)
    headers: RecordHeaders = field(default_factory=list, repr=False)
