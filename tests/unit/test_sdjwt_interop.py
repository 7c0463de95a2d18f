"""Interoperability with the SD-JWT reference implementation (`sd-jwt` on PyPI, built on jwcrypto):
tokens we issue verify there, and tokens it issues with Ed25519 verify here."""

from typing import Any

from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from bus.envelope.codec import issue_event, present, verify_event
from bus.envelope.sdjwt import TOKEN_TYPE
from bus.keys import AgencySigningKey, KeyStore
from bus.keys.keystore import public_key_from_pem
from tests.support.events import address_changed

KEY = AgencySigningKey.generate("muni-munich")
KEYS = KeyStore([public_key_from_pem(KEY.agency_id, KEY.public_pem())])
RELEASED = {"subject_id", "new_address", "moved_abroad"}


def _reference_verify(token: str) -> dict[str, Any]:
    public = JWK.from_pem(KEY.public_pem())

    def issuer_key(issuer: str, header: dict[str, Any]) -> JWK:
        assert issuer == "muni-munich"
        assert header["kid"] == KEY.kid
        return public

    payload: dict[str, Any] = SDJWTVerifier(token, issuer_key).get_verified_payload()
    return payload


def test_our_token_and_our_presentation_verify_with_the_reference() -> None:
    event = address_changed()
    issued = issue_event(event, KEY)
    full = _reference_verify(issued.token)
    for name, value in event.field_values_json().items():
        assert full[name] == value
    assert full["ce_id"] == issued.attributes.id
    assert full["ce_type"] == "population.AddressChanged"

    partial = _reference_verify(present(issued.token, RELEASED))
    fields = set(event.field_values_json())
    assert fields & set(partial) == RELEASED
    assert partial["new_address"] == event.field_values_json()["new_address"]


def test_reference_token_with_decoys_verifies_here_and_can_be_presented() -> None:
    event = address_changed()
    ours = issue_event(event, KEY)
    clear = {k: v for k, v in ours.attributes.claims().items()}
    disclosable = {SDObj(name): value for name, value in event.field_values_json().items()}
    reference = SDJWTIssuer(
        {**clear, **disclosable},
        JWK.from_pem(KEY.private_pem()),
        sign_alg="EdDSA",
        add_decoy_claims=True,  # extra digests without disclosures: a strict verifier must cope
        # The bus accepts only its own token type (a token minted for another use is refused).
        extra_header_parameters={"kid": KEY.kid, "typ": TOKEN_TYPE},
    ).sd_jwt_issuance

    verified = verify_event(reference, KEYS)
    assert verified.to_event() == event
    assert verified.attributes.id == ours.attributes.id

    presented = verify_event(present(reference, RELEASED), KEYS)
    assert set(presented.fields) == RELEASED
    assert presented.subject == event.subject_id
