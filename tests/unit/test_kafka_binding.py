"""CloudEvents binary mode: headers mirror the signed attributes; a disagreeing header is refused."""

import pytest

from bus.envelope.codec import issue_event
from bus.envelope.errors import AttributeMismatchError, MalformedTokenError, MissingAttributeError
from bus.envelope.kafka_binding import header_map, ingress_record, verify_record
from bus.keys import AgencySigningKey, KeyStore
from bus.keys.keystore import public_key_from_pem
from tests.support.events import address_changed

KEY = AgencySigningKey.generate("muni-munich")
KEYS = KeyStore([public_key_from_pem(KEY.agency_id, KEY.public_pem())])


def test_record_is_keyed_by_subject_with_ce_headers_on_the_ingress_topic() -> None:
    record = ingress_record(issue_event(address_changed("P-1234-5678"), KEY))
    headers = header_map(record.headers)
    assert record.topic == "bus.ingress.population.AddressChanged"
    assert record.key == b"P-1234-5678"
    assert headers["ce_subject"] == "P-1234-5678"
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_dataschema"] == "urn:govbus:schema:population.AddressChanged:v1"
    assert headers["content-type"] == "application/sd-jwt"
    assert verify_record(record.value, record.headers, KEYS).subject == "P-1234-5678"
    # The subject is a disclosure inside the token, never a clear claim of the signed part.
    signed_part = record.value.split(b"~")[0]
    assert b"P-1234-5678" not in signed_part


@pytest.mark.parametrize("name", ["ce_type", "ce_source", "ce_id", "ce_subject"])
def test_header_that_disagrees_with_the_signed_attribute_is_refused(name: str) -> None:
    record = ingress_record(issue_event(address_changed(), KEY))
    headers = [(k, b"forged" if k == name else v) for k, v in record.headers]
    with pytest.raises(AttributeMismatchError, match=name):
        verify_record(record.value, headers, KEYS)


def test_missing_header_and_empty_value_are_refused() -> None:
    record = ingress_record(issue_event(address_changed(), KEY))
    without_type = [(k, v) for k, v in record.headers if k != "ce_type"]
    with pytest.raises(MissingAttributeError, match="ce_type"):
        verify_record(record.value, without_type, KEYS)
    with pytest.raises(MalformedTokenError, match="no value"):
        verify_record(None, record.headers, KEYS)
