"""Every way of tampering with a signed event is caught, each by its own error."""

import json
from collections.abc import Callable

import pytest

from bus.envelope import sdjwt
from bus.envelope.codec import IssuedEvent, issue_event, present, verify_event
from bus.envelope.errors import (
    BadSignatureError,
    DigestMismatchError,
    DuplicateDisclosureError,
    EnvelopeError,
    MalformedTokenError,
    MissingAttributeError,
    UnknownKeyError,
    UnknownTypeError,
    UnreferencedDisclosureError,
)
from bus.keys import AgencySigningKey, KeyStore
from bus.keys.keystore import public_key_from_pem
from bus.util.encoding import b64url_decode, b64url_encode, json_bytes
from tests.support.events import address_changed

KEY = AgencySigningKey.generate("muni-munich")
OTHER = AgencySigningKey.generate("muni-regensburg")
KEYS = KeyStore([public_key_from_pem(k.agency_id, k.public_pem()) for k in (KEY, OTHER)])


def _issued() -> IssuedEvent:
    return issue_event(address_changed(), KEY)


def _parts(token: str) -> tuple[str, list[str]]:
    return sdjwt.split(token)


def _join(jwt: str, disclosures: list[str]) -> str:
    return jwt + "~" + "".join(d + "~" for d in disclosures)


def _resign(
    token: str, edit: Callable[[dict[str, object]], object], key: AgencySigningKey = KEY
) -> str:
    """Change the signed claims and sign again with a real key (a forger holding some key)."""
    jwt, disclosures = _parts(token)
    header_b64, payload_b64, _ = jwt.split(".")
    payload = json.loads(b64url_decode(payload_b64))
    edit(payload)
    header = json.loads(b64url_decode(header_b64))
    header["kid"] = key.kid
    signing_input = f"{b64url_encode(json_bytes(header))}.{b64url_encode(json_bytes(payload))}"
    signature = b64url_encode(key.sign(signing_input.encode()))
    return _join(f"{signing_input}.{signature}", disclosures)


def _disclosure_named(disclosures: list[str], name: str) -> int:
    return next(i for i, d in enumerate(disclosures) if json.loads(b64url_decode(d))[1] == name)


def test_untouched_token_verifies() -> None:
    verified = verify_event(_issued().token, KEYS)
    assert verified.to_event() == address_changed()
    assert verified.attributes.source == "muni-munich"


def test_altered_field_value_is_a_digest_mismatch() -> None:
    jwt, disclosures = _parts(_issued().token)
    i = _disclosure_named(disclosures, "moved_abroad")
    salt, name, _ = json.loads(b64url_decode(disclosures[i]))
    disclosures[i] = b64url_encode(json_bytes([salt, name, True]))
    with pytest.raises(DigestMismatchError, match="'moved_abroad'"):
        verify_event(_join(jwt, disclosures), KEYS)


def test_disclosure_from_another_event_is_a_digest_mismatch() -> None:
    jwt, disclosures = _parts(_issued().token)
    _, foreign = _parts(issue_event(address_changed("P-9999-0000"), KEY).token)
    i = _disclosure_named(disclosures, "subject_id")
    disclosures[i] = foreign[_disclosure_named(foreign, "subject_id")]
    with pytest.raises(DigestMismatchError, match="'subject_id'"):
        verify_event(_join(jwt, disclosures), KEYS)


def test_added_disclosure_is_unreferenced() -> None:
    jwt, disclosures = _parts(_issued().token)
    extra = b64url_encode(json_bytes(["c2FsdHNhbHRzYWx0c2FsdA", "nickname", "Sepp"]))
    with pytest.raises(UnreferencedDisclosureError, match="'nickname'"):
        verify_event(_join(jwt, [*disclosures, extra]), KEYS)


def test_repeated_disclosure_is_a_duplicate() -> None:
    jwt, disclosures = _parts(_issued().token)
    with pytest.raises(DuplicateDisclosureError, match="twice"):
        verify_event(_join(jwt, [*disclosures, disclosures[0]]), KEYS)


def test_removed_disclosure_is_allowed_and_the_field_is_gone() -> None:
    # Withholding disclosures is the point of SD-JWT: the rest still verifies.
    jwt, disclosures = _parts(_issued().token)
    i = _disclosure_named(disclosures, "new_address")
    verified = verify_event(_join(jwt, disclosures[:i] + disclosures[i + 1 :]), KEYS)
    assert "new_address" not in verified.fields
    with pytest.raises(MissingAttributeError, match="new_address"):
        verified.to_event()


def test_removing_a_signed_digest_breaks_the_signature() -> None:
    jwt, disclosures = _parts(_issued().token)
    header, payload, signature = jwt.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["_sd"] = claims["_sd"][1:]
    forged = f"{header}.{b64url_encode(json_bytes(claims))}.{signature}"
    with pytest.raises(BadSignatureError, match="does not verify"):
        verify_event(_join(forged, disclosures), KEYS)


@pytest.mark.parametrize("attribute", ["ce_type", "ce_time", "iss", "ce_id"])
def test_altered_signed_attribute_breaks_the_signature(attribute: str) -> None:
    jwt, disclosures = _parts(_issued().token)
    header, payload, signature = jwt.split(".")
    claims = json.loads(b64url_decode(payload))
    claims[attribute] = str(claims[attribute]) + "x"
    forged = f"{header}.{b64url_encode(json_bytes(claims))}.{signature}"
    with pytest.raises(BadSignatureError):
        verify_event(_join(forged, disclosures), KEYS)


def test_altered_signature_is_refused() -> None:
    jwt, disclosures = _parts(_issued().token)
    head, payload, signature = jwt.split(".")
    raw = bytearray(b64url_decode(signature))
    raw[0] ^= 1
    with pytest.raises(BadSignatureError):
        verify_event(_join(f"{head}.{payload}.{b64url_encode(bytes(raw))}", disclosures), KEYS)


def test_alg_none_is_refused() -> None:
    jwt, disclosures = _parts(_issued().token)
    _, payload, _ = jwt.split(".")
    header = b64url_encode(json_bytes({"alg": "none", "kid": KEY.kid}))
    with pytest.raises(BadSignatureError, match="only EdDSA"):
        verify_event(_join(f"{header}.{payload}.", disclosures), KEYS)


def test_unknown_key_is_refused() -> None:
    stranger = AgencySigningKey.generate("muni-munich")
    with pytest.raises(UnknownKeyError, match="not among the known agency keys"):
        verify_event(issue_event(address_changed(), stranger).token, KEYS)


def test_key_of_another_agency_cannot_speak_for_this_one() -> None:
    forged = _resign(_issued().token, lambda claims: None, key=OTHER)  # iss stays muni-munich
    with pytest.raises(UnknownKeyError, match="belongs to 'muni-regensburg'"):
        verify_event(forged, KEYS)


def test_missing_attribute_is_named() -> None:
    forged = _resign(_issued().token, lambda claims: claims.pop("ce_time"))
    with pytest.raises(MissingAttributeError, match="ce_time"):
        verify_event(forged, KEYS)


def test_unknown_type_and_version_are_refused() -> None:
    forged = _resign(_issued().token, lambda claims: claims.update(ce_eventversion=99))
    with pytest.raises(UnknownTypeError, match=r"population\.AddressChanged"):
        verify_event(forged, KEYS)
    forged = _resign(_issued().token, lambda claims: claims.update(ce_type="tax.Unknown"))
    with pytest.raises(UnknownTypeError, match=r"tax\.Unknown"):
        verify_event(forged, KEYS)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\xff\xfe", b"no separators", b"a.b~", b"!!!.@@@.###~", b"e30.e30.e30~"],
)
def test_malformed_bytes_are_refused(garbage: bytes) -> None:
    with pytest.raises(EnvelopeError) as caught:
        verify_event(garbage, KEYS)
    assert isinstance(caught.value, MalformedTokenError | BadSignatureError | MissingAttributeError)


def test_errors_carry_a_stable_reason_code() -> None:
    assert DigestMismatchError.reason == "DIGEST_MISMATCH"
    assert len({cls.reason for cls in EnvelopeError.__subclasses__()}) == len(
        EnvelopeError.__subclasses__()
    )


def test_presented_bytes_never_contain_a_withheld_value() -> None:
    event = address_changed(subject_id="P-SECRET-4711")
    token = issue_event(event, KEY).token
    presented = present(token, {"effective_date", "moved_abroad"})
    verified = verify_event(presented, KEYS)
    assert set(verified.fields) == {"effective_date", "moved_abroad"}
    decoded = " ".join(
        b64url_decode(part).decode("utf-8", "replace")
        for segment in presented.split("~")
        for part in segment.split(".")
        if part
    )
    for withheld in ("P-SECRET-4711", "Hauptstraße", "Marienplatz", "93047", "09362000"):
        assert withheld not in presented
        assert withheld not in decoded
