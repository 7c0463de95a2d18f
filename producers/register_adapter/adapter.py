"""The adapter: watch the inbox, publish each export's rows exactly once, move finished files away.

Per file, in chunks: sign the chunk's good rows, then in one Kafka transaction send their events to
the ingress topics and the file's new progress record to the agency's source-offsets topic, and
commit. A crash anywhere leaves either the whole chunk with its progress, or neither; on start the
adapter fences its predecessor, reads the progress topic to its end and resumes each file after
the rows its last committed chunk counted.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from bus.control.credentials import load_agency_profile
from bus.envelope.codec import issue_event
from bus.envelope.kafka_binding import ingress_record
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import source_offsets_topic, transactional_id_prefix
from bus.keys import AgencySigningKey
from producers.errors import ProducerConfigError, ProducerUnavailableError
from producers.register_adapter.csv_file import RegisterCsv, read_register_csv, sha256_hex
from producers.register_adapter.errors import RegisterFileError
from producers.register_adapter.inbox import Inbox
from producers.register_adapter.progress import FileProgress, load_progress
from producers.register_adapter.results import AdapterStats, FileResult, FileStatus
from producers.register_adapter.rows import ParsedRow, RowOutcome, RowProblem, parse_rows
from producers.register_adapter.transactions import TransactionalPublisher

log = logging.getLogger(__name__)

ADAPTER_NAME = "register-adapter"
DEFAULT_CHUNK_SIZE = 500


class RegisterAdapter:
    """A population register's publisher: reads the CSV exports dropped into `inbox` and publishes
    each row as a signed event, exactly once (see the package docstring for the file format).

    Each chunk of rows is committed in one Kafka transaction together with the file's progress on
    the agency's source-offsets topic, so a restart resumes after the last committed chunk and a
    second adapter with the same transactional id fences this one (AdapterFencedError). Use it as
    `async with RegisterAdapter(...) as adapter:` and call `process_pending()`, or run it as a
    service with `run(stop)`.

    Parameters:
        agency_id: the register's agency id (e.g. "muni-09162000").
        key: the agency's signing key; it must belong to `agency_id` (ProducerConfigError
            otherwise).
        connection: the broker's address and the agency's credentials.
        inbox: the folder the register writes its exports into; `done/` and `rejected/` are
            created below it.
        chunk_size: how many events one transaction holds at most; at least 1.
        poll_interval_s: how long `run()` waits between passes over the inbox, and before it
            reconnects after a failed chunk.
        connect_attempts: how often a start tries to connect before ProducerUnavailableError.
        retry_backoff_s: the wait before the second connect attempt; it doubles after each.
    """

    def __init__(
        self,
        agency_id: str,
        key: AgencySigningKey,
        connection: KafkaConnection,
        inbox: Path,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        poll_interval_s: float = 2.0,
        connect_attempts: int = 5,
        retry_backoff_s: float = 1.0,
    ) -> None:
        if key.agency_id != agency_id:
            raise ProducerConfigError(f"key belongs to {key.agency_id!r}, not to {agency_id!r}")
        if chunk_size < 1:
            raise ProducerConfigError("chunk_size must be at least 1")
        self.agency_id = agency_id
        self.transactional_id = f"{transactional_id_prefix(agency_id)}{ADAPTER_NAME}"
        self.progress_topic = source_offsets_topic(agency_id)
        self.inbox = Inbox(inbox)
        self.stats = AdapterStats()
        self._key = key
        self._connection = connection
        self._chunk_size = chunk_size
        self._poll_interval_s = poll_interval_s
        self._publisher = TransactionalPublisher(
            connection,
            self.transactional_id,
            connect_attempts=connect_attempts,
            retry_backoff_s=retry_backoff_s,
        )
        self._progress: dict[str, FileProgress] | None = None

    async def start(self) -> None:
        """Connect (fencing any earlier instance), then learn each file's committed progress."""
        if self._publisher.started and self._progress is not None:
            return
        await self.close()  # whatever is left of a failed pass
        await self._publisher.start()
        try:
            self._progress = await load_progress(self._connection, self.progress_topic)
        except BaseException:
            await self._publisher.stop()
            raise
        log.info(
            "connected as %r (transactional id %s); %d files known in %s",
            self._connection.username,
            self.transactional_id,
            len(self._progress),
            self.progress_topic,
        )

    async def close(self) -> None:
        """Disconnect; an open chunk is aborted. `start()` (or the next pass) connects again."""
        self._progress = None
        await self._publisher.stop()

    async def __aenter__(self) -> "RegisterAdapter":
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll the inbox until `stop` is set. The chunk in hand is committed first (or, if the
        task is cancelled, aborted): never half. A chunk the broker did not take is retried after
        a reconnect; a failed connect (after bounded retries) or a refusal ends the run."""
        try:
            while not stop.is_set():
                await self.start()  # a no-op while connected
                try:
                    await self.process_pending(stop)
                except ProducerUnavailableError as exc:  # a chunk failed: aborted, retried
                    log.error("%s; reconnecting in %.1f s", exc, self._poll_interval_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._poll_interval_s)
        finally:
            await self.close()

    async def process_pending(self, stop: asyncio.Event | None = None) -> list[FileResult]:
        """One pass over the inbox: every ready file, in name order (until `stop` is set)."""
        await self.start()
        results: list[FileResult] = []
        try:
            for path in self.inbox.ready_files():
                if stop is not None and stop.is_set():
                    break
                result = await self._process_file(path, stop)
                if result is not None:
                    results.append(result)
        except BaseException:
            # What was committed is read again on the next start; nothing else is trusted.
            await self.close()
            raise
        return results

    async def _process_file(self, path: Path, stop: asyncio.Event | None) -> FileResult | None:
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            log.warning("%s disappeared before it was read", path)
            return None
        sha256 = sha256_hex(data)
        assert self._progress is not None
        known = self._progress.get(sha256)
        if known is not None and known.complete:
            return self._settle_complete(path, data, known)
        try:
            export = read_register_csv(data, path.name)
        except RegisterFileError as exc:
            log.error("%s", exc)
            moved = self.inbox.reject(path, sha256, str(exc))
            self.stats.files_rejected += 1
            return FileResult(
                path.name, sha256, FileStatus.REJECTED, error=str(exc), moved_to=moved
            )
        return await self._publish(path, export, known, stop)

    async def _publish(
        self,
        path: Path,
        export: RegisterCsv,
        known: FileProgress | None,
        stop: asyncio.Event | None,
    ) -> FileResult:
        outcomes = list(parse_rows(export))
        total = len(outcomes)
        done = min(known.rows_done, total) if known else 0
        published = known.published if known else 0
        rejected = known.rejected if known else 0
        if known is not None:
            log.info(
                "%s: resuming after %d of %d records (first seen as %s)",
                path.name,
                done,
                total,
                known.file,
            )
        assert self._progress is not None
        while True:
            if stop is not None and stop.is_set():
                return FileResult(
                    path.name,
                    export.sha256,
                    FileStatus.INTERRUPTED,
                    published,
                    rejected,
                    _problems(outcomes[:done]),
                )
            chunk = outcomes[done : done + self._chunk_size]
            events = [
                ingress_record(issue_event(o.event, self._key))
                for o in chunk
                if isinstance(o, ParsedRow)
            ]
            bad = _problems(chunk)
            progress = FileProgress(
                file=path.name,
                sha256=export.sha256,
                rows_done=done + len(chunk),
                complete=done + len(chunk) == total,
                published=published + len(events),
                rejected=rejected + len(bad),
            )
            await self._publisher.commit(events, progress.record(self.progress_topic))
            self._progress[export.sha256] = progress
            for problem in bad:
                log.warning("%s", problem, extra={"file": path.name, "line": problem.line})
            done, published, rejected = progress.rows_done, progress.published, progress.rejected
            self.stats.rows_published += len(events)
            self.stats.rows_rejected += len(bad)
            self.stats.current = (path.name, done, total)
            log.info(
                "%s: %d/%d records done (%d events published, %d bad rows)",
                path.name,
                done,
                total,
                published,
                rejected,
            )
            if progress.complete:
                break
        self.stats.current = None
        problems = _problems(outcomes)
        moved = self.inbox.archive(path, export.sha256, _rejected_note(path.name, problems))
        self.stats.files_done += 1
        log.info("%s: complete, moved to %s", path.name, moved)
        return FileResult(
            path.name,
            export.sha256,
            FileStatus.PUBLISHED,
            published,
            rejected,
            problems,
            moved_to=moved,
        )

    @classmethod
    def from_profile(
        cls,
        key: AgencySigningKey,
        inbox: Path,
        connection: KafkaConnection | None = None,
        **options: Any,
    ) -> Self:
        """The adapter of the agency whose key `key` is, reading exports from `inbox`;
        `connection` defaults to the agency's connection profile (`load_agency_profile`), as for
        `Producer.from_profile`. `options` as the constructor's keyword parameters."""
        agency = key.agency_id
        return cls(agency, key, connection or load_agency_profile(agency), inbox, **options)

    def _settle_complete(self, path: Path, data: bytes, known: FileProgress) -> FileResult:
        """A file whose every row is committed: the same file after a crash before its move (move
        it now), or the same content dropped again (report it; publish nothing)."""
        if known.file == path.name and not self.inbox.in_done(path.name, known.sha256):
            problems = _problems(parse_rows(read_register_csv(data, path.name)))
            moved = self.inbox.archive(path, known.sha256, _rejected_note(path.name, problems))
            self.stats.files_done += 1
            log.info("%s: published before, now moved to %s", path.name, moved)
            return FileResult(
                path.name,
                known.sha256,
                FileStatus.ALREADY_COMPLETE,
                known.published,
                known.rejected,
                problems,
                moved_to=moved,
            )
        note = (
            f"{path.name} has the same content (sha256 {known.sha256}) as {known.file}, whose "
            f"{known.published} events were published before; nothing was published again.\n"
        )
        moved = self.inbox.archive(path, known.sha256, {".duplicate.txt": note})
        self.stats.duplicates += 1
        log.warning(
            "%s: same content as %s, published before; not published again, moved to %s",
            path.name,
            known.file,
            moved,
        )
        return FileResult(
            path.name, known.sha256, FileStatus.DUPLICATE, duplicate_of=known.file, moved_to=moved
        )


def _problems(outcomes: Iterable[RowOutcome]) -> tuple[RowProblem, ...]:
    return tuple(o for o in outcomes if isinstance(o, RowProblem))


def _rejected_note(name: str, problems: tuple[RowProblem, ...]) -> dict[str, str]:
    if not problems:
        return {}
    lines = [
        f"# {len(problems)} bad rows of {name}, skipped; every other row was published.",
        *(str(p) for p in problems),
    ]
    return {".rejected.txt": "\n".join(lines) + "\n"}
