"""One record's outcome inside the loop's transaction: what process() makes of it, unless the
retry plan sets it aside, process() fails, or its event was accepted before (a republication)."""

from collections.abc import Callable
from datetime import datetime

from bus.enforcer.input_records import position
from bus.enforcer.interest_records import marker_outcome
from bus.enforcer.observer import loop_log
from bus.enforcer.pipeline import INTERNAL_ERROR, EnforcerState, InRecord, Outcome, quarantine
from bus.enforcer.seen_events import SeenInBatch
from bus.kafka.position import record_position

DUPLICATE_EVENT = "DUPLICATE_EVENT"
Processor = Callable[[InRecord, EnforcerState, datetime], Outcome]


def outcome_of(
    record: InRecord,
    state: EnforcerState,
    now: datetime,
    batch: SeenInBatch,
    processor: Processor,
    set_aside_after: str | None = None,
) -> Outcome:
    """The outcome of `record` under `state` at `now`.

    Parameters:
        batch: the event ids accepted so far, in this transaction and before it on the partition;
            an acceptance of an event found there is quarantined as DUPLICATE_EVENT instead.
        processor: turns the record into outputs (`process`, or a benchmark's stand-in); if it
            raises, the record is quarantined as INTERNAL_ERROR.
        set_aside_after: the error that failed writing the record's outputs each time, when the
            retry plan sets it aside: then it is quarantined as INTERNAL_ERROR unprocessed.
    """
    if set_aside_after is not None:
        detail = f"{set_aside_after} each time its outputs were written; set aside"
        return quarantine(record, state, now, INTERNAL_ERROR, detail)
    try:
        if state.interest is not None and state.interest.is_marker_topic(record.topic):
            outcome = marker_outcome(record, state, now)  # no event: no duplicate to catch
        else:
            outcome = processor(record, state, now)
    except Exception as exc:  # process() never raises; a stand-in might
        loop_log.exception("processing failed", extra={"input": position(record)})
        detail = f"{type(exc).__name__} while processing the record"
        return quarantine(record, state, now, INTERNAL_ERROR, detail)
    if outcome.quarantine_reason is not None or outcome.event_id is None:
        return outcome
    earlier = batch.earlier_acceptance(outcome.producer or "", outcome.event_id, record.offset)
    if earlier is None:
        return outcome
    detail = (
        f"event {outcome.event_id} of {outcome.producer} was accepted before at "
        f"{record_position(record.topic, record.partition, earlier)}"
    )
    return quarantine(record, state, now, DUPLICATE_EVENT, detail, outcome.verified)
