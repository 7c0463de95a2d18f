"""The DUPLICATE_EVENT memory of one input partition: bounded, first acceptance wins, a replay of
the same record is not a duplicate, and only committed batches are remembered."""

from bus.enforcer.seen_events import SeenEvents


def test_a_republished_event_is_found_with_the_offset_it_was_accepted_at() -> None:
    seen = SeenEvents(capacity=10)
    batch = seen.batch()
    assert batch.earlier_acceptance("muni-muc", "id-1", 5) is None
    assert batch.earlier_acceptance("muni-muc", "id-1", 9) == 5  # later in the same batch
    batch.commit()
    assert seen.batch().earlier_acceptance("muni-muc", "id-1", 12) == 5


def test_the_same_id_from_another_source_is_not_a_duplicate() -> None:
    seen = SeenEvents(capacity=10)
    batch = seen.batch()
    assert batch.earlier_acceptance("muni-muc", "id-1", 1) is None
    assert batch.earlier_acceptance("muni-rgb", "id-1", 2) is None
    # Length-prefixed: no pair can be spelled as another.
    assert batch.earlier_acceptance("muni-mu", "cid-1", 3) is None


def test_a_replay_of_the_accepted_record_itself_is_not_a_duplicate() -> None:
    seen = SeenEvents(capacity=10)
    batch = seen.batch()
    batch.earlier_acceptance("muni-muc", "id-1", 5)
    batch.commit()
    replay = seen.batch()
    assert replay.earlier_acceptance("muni-muc", "id-1", 5) is None
    assert replay.entries == []  # already journaled: not written again


def test_an_aborted_batch_leaves_nothing_behind() -> None:
    seen = SeenEvents(capacity=10)
    aborted = seen.batch()
    aborted.earlier_acceptance("muni-muc", "id-1", 5)  # never committed
    retry = seen.batch()
    assert retry.earlier_acceptance("muni-muc", "id-1", 5) is None
    assert len(seen) == 0


def test_memory_is_bounded_and_forgets_the_oldest() -> None:
    seen = SeenEvents(capacity=3)
    for offset in range(5):
        batch = seen.batch()
        batch.earlier_acceptance("muni-muc", f"id-{offset}", offset)
        batch.commit()
    assert len(seen) == 3
    batch = seen.batch()
    assert batch.earlier_acceptance("muni-muc", "id-0", 100) is None  # forgotten
    assert batch.earlier_acceptance("muni-muc", "id-4", 101) == 4


def test_ids_that_are_not_valid_text_still_hash() -> None:
    seen = SeenEvents(capacity=3)
    assert seen.batch().earlier_acceptance("muni-muc", "\ud800", 1) is None
