"""The native SD-JWT digest (native/) equals the pure-Python reference on every text, and refuses
a non-ASCII one as the reference does (a token is ASCII; split() already refuses others)."""

import govbus_native
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.util import encoding
from bus.util.encoding import sd_digest_reference


def test_the_enforcer_digests_natively() -> None:
    assert encoding.sd_digest is govbus_native.sd_digest


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=400))
def test_native_digest_equals_the_reference(text: str) -> None:
    assert govbus_native.sd_digest(text) == sd_digest_reference(text)


@given(st.text(min_size=1, max_size=20).filter(lambda t: not t.isascii()))
def test_a_non_ascii_text_is_refused_by_both(text: str) -> None:
    with pytest.raises(UnicodeEncodeError):
        sd_digest_reference(text)
    with pytest.raises(ValueError, match="is ASCII"):
        govbus_native.sd_digest(text)
