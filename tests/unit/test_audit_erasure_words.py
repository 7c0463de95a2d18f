"""The erasure state of a receipt in a citizen's words: a date, not a timestamp, in local time."""

from zoneinfo import ZoneInfo

from bus.audit.citizen_words import erasure_sentence

BERLIN = ZoneInfo("Europe/Berlin")


def test_each_state_reads_as_a_sentence_with_a_local_date() -> None:
    # 23:30 UTC on 31 December is already 1 January in Berlin.
    deadline = "2036-12-31T23:30:00.000000Z"
    assert erasure_sentence("due", deadline, None, BERLIN) == "To be erased by 1 January 2037."
    assert erasure_sentence("erased", deadline, "2037-01-02T08:00:00Z", BERLIN) == (
        "Erased on 2 January 2037, as the agency reports."
    )
    assert erasure_sentence("overdue", deadline, None, BERLIN) == (
        "Should have been erased by 1 January 2037; the agency has not reported it erased."
    )
    assert "not known" in erasure_sentence("unknown", None, None, BERLIN)
