"""Where each file stands, kept in the agency's compacted source-offsets topic.

One record per file, keyed by the sha256 of its bytes, written in the same Kafka transaction as the
events of the rows it counts (the pattern of Kafka Connect's exactly-once source connectors,
KIP-618). Reading the topic read_committed from its start to its end therefore tells exactly which
rows are published: no more (an aborted chunk's progress is invisible), no less.
"""

import asyncio
import json
import logging
from dataclasses import asdict, dataclass

from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from bus.envelope.kafka_binding import KafkaRecord
from bus.kafka.connection import KafkaConnection
from bus.kafka.reading import TopicNotFoundError, read_all
from producers.errors import ProducerUnavailableError
from producers.register_adapter.errors import ProgressTopicUnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileProgress:
    """`rows_done`: records after the header consumed, bad and blank ones included; `published`
    and `rejected` count the events sent and the bad rows among them."""

    file: str
    sha256: str
    rows_done: int
    complete: bool
    published: int
    rejected: int

    def record(self, topic: str) -> KafkaRecord:
        """This progress as the record for `topic`, keyed by the file's sha256."""
        value = json.dumps(asdict(self), sort_keys=True).encode()
        return KafkaRecord(topic=topic, key=self.sha256.encode(), value=value, headers=[])

    @classmethod
    def from_json(cls, value: bytes) -> "FileProgress":
        """The progress a record's value holds; KeyError, ValueError or TypeError if malformed."""
        data = json.loads(value)
        return cls(
            file=str(data["file"]),
            sha256=str(data["sha256"]),
            rows_done=int(data["rows_done"]),
            complete=bool(data["complete"]),
            published=int(data["published"]),
            rejected=int(data["rejected"]),
        )


async def load_progress(
    connection: KafkaConnection, topic: str, *, timeout_s: float = 60.0
) -> dict[str, FileProgress]:
    """Every file's last committed progress, by sha256: the topic read from start to end.

    Call it only after the transactional producer has started: starting fences any earlier
    instance and settles its open transaction, so the end read here is final.
    """
    try:
        async with asyncio.timeout(timeout_s):
            return await _read(connection, topic)
    except TimeoutError:
        raise ProducerUnavailableError(
            f"could not read the progress topic {topic} to its end within {timeout_s:.0f} s; "
            "nothing was published"
        ) from None


async def _read(connection: KafkaConnection, topic: str) -> dict[str, FileProgress]:
    progress: dict[str, FileProgress] = {}
    try:
        async for r in read_all(connection, topic):
            _apply(progress, r.key, r.value)
    except TopicNotFoundError:
        raise ProgressTopicUnavailableError(
            f"the progress topic {topic} does not exist or {connection.username!r} may not read"
            " it; the bus creates it for every producer agency (`bus enforce` does, from the"
            " policy) and `bus acl sync` grants the agency READ and WRITE on it"
        ) from None
    except TopicAuthorizationFailedError as exc:
        raise ProgressTopicUnavailableError(
            f"{connection.username!r} may not read its progress topic {topic} ({exc}); "
            "`bus acl sync` grants it from the policy"
        ) from exc
    except KafkaError as exc:
        raise ProducerUnavailableError(
            f"could not read the progress topic {topic} at {connection.bootstrap} ({exc}); "
            "nothing was published"
        ) from exc
    return progress


def _apply(progress: dict[str, FileProgress], key: bytes | None, value: bytes | None) -> None:
    if key is None:
        return
    if value is None:  # a tombstone: the file's history was deleted on purpose
        progress.pop(key.decode(errors="replace"), None)
        return
    try:
        entry = FileProgress.from_json(value)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring an unreadable progress record %r: %s", key, exc)
        return
    progress[entry.sha256] = entry
