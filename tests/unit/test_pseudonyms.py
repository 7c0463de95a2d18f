"""Pseudonyms are HMAC-SHA-256 (RFC 2104) under the key, truncated to 160 bits, base64url: a fixed
value, so that the audit trail's pseudonyms stay the same across versions of the code that makes
them (a query by person finds the decisions of every version)."""

import pytest

from bus.record.pseudonyms import Pseudonymizer

KEY = bytes(range(32))


def test_a_pseudonym_is_the_truncated_hmac_of_audience_and_subject() -> None:
    # Known answer, computed with hmac.new(KEY, b"audit\x00P-0001-0000", hashlib.sha256).
    assert Pseudonymizer(KEY).pseudonym("audit", "P-0001-0000") == "psn-aGkp_gYq71haXs3iVumWxlEcSis"


def test_audiences_get_unrelated_pseudonyms() -> None:
    pseudonyms = Pseudonymizer(KEY)
    assert pseudonyms.pseudonym("audit", "P-1") != pseudonyms.pseudonym("tax", "P-1")
    assert pseudonyms.pseudonym("audit", "P-1") != Pseudonymizer(KEY[::-1]).pseudonym(
        "audit", "P-1"
    )


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Pseudonymizer(bytes(31))
