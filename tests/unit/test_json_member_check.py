"""`json_loads` skips the member-by-member check for bytes that are exactly the compact encoding of
what they parse to. Property: it refuses exactly the texts that name a member twice, as the full
check alone did, however the text is spelled (compact, spaced, reordered, escaped)."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.util.encoding import MalformedEncodingError, json_bytes, json_loads

NAMES = st.sampled_from(["a", "b", "street", "ü", "\u2028", 'q"'])
SCALARS = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=5)


def _text(value: Any, repeat: bool, spaced: bool) -> str:
    """JSON for `value`; objects as member lists (a name may come twice when `repeat`)."""
    if isinstance(value, list) and value and value[0] == "obj":
        members = value[1]
        if not repeat:
            members = list(dict(members).items())
        sep = ", " if spaced else ","
        colon = ": " if spaced else ":"
        inner = sep.join(
            f"{json.dumps(k, ensure_ascii=False)}{colon}{_text(v, repeat, spaced)}"
            for k, v in members
        )
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ",".join(_text(v, repeat, spaced) for v in value) + "]"
    return json.dumps(value, ensure_ascii=spaced)


TREES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(st.just("obj"), st.lists(st.tuples(NAMES, inner), max_size=4)).map(list)
    ),
    max_leaves=12,
)


def _repeats_a_member(text: str) -> bool:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in items}) != len(items):
            raise KeyError
        return dict(items)

    try:
        json.loads(text, object_pairs_hook=pairs)
    except KeyError:
        return True
    return False


@given(TREES, st.booleans(), st.booleans())
def test_refuses_exactly_the_texts_that_repeat_a_member(
    tree: Any, repeat: bool, spaced: bool
) -> None:
    text = _text(tree, repeat, spaced)
    data = text.encode()
    if _repeats_a_member(text):
        with pytest.raises(MalformedEncodingError, match="twice"):
            json_loads(data, "test")
    else:
        assert json_loads(data, "test") == json.loads(text)


def test_the_compact_encoding_the_bus_issues_takes_the_fast_path_and_still_reads() -> None:
    value = {"street": "Marienplatz", "number": "8", "nested": {"a": [1, "ü"]}}
    assert json_loads(json_bytes(value), "test") == value


def test_a_member_named_twice_in_compact_form_is_refused() -> None:
    with pytest.raises(MalformedEncodingError, match="twice"):
        json_loads(b'{"a":1,"a":1}', "test")
