"""ce_id must be a UUID in the one spelling str(uuid.UUID(...)) gives. The enforcer checks it with a
regular expression (cheaper per event); it refuses exactly what the round trip refuses."""

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from bus.envelope.codec import _is_canonical_uuid


def _round_trip(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def _spellings(value: uuid.UUID) -> list[str]:
    text = str(value)
    return [
        text,
        text.upper(),
        text.replace("-", ""),
        "{" + text + "}",
        "urn:uuid:" + text,
        text + "\n",
        " " + text,
        text[:-1] + "٣",  # an Arabic-Indic digit: a digit to \\d, not to a UUID
    ]


@settings(max_examples=300)
@given(st.uuids())
def test_every_spelling_of_a_uuid_gets_the_round_trips_verdict(value: uuid.UUID) -> None:
    for text in _spellings(value):
        assert _is_canonical_uuid(text) == _round_trip(text), text


@settings(max_examples=500)
@given(st.text(alphabet="0123456789abcdefABCDEF-{}:urnid \n", max_size=45))
def test_arbitrary_texts_get_the_round_trips_verdict(text: str) -> None:
    assert _is_canonical_uuid(text) == _round_trip(text)
