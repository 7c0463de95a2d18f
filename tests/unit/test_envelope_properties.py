"""Property: for every event e and every subset S of its fields, verify(present(issue(e), S)) is e
restricted to S — no more, no less, with the same typed values."""

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from bus.catalog.population import Address, AddressChanged
from bus.envelope.codec import issue_event, present, verify_event
from bus.keys import AgencySigningKey, KeyStore
from bus.keys.keystore import public_key_from_pem

KEY = AgencySigningKey.generate("muni-munich")
KEYS = KeyStore([public_key_from_pem(KEY.agency_id, KEY.public_pem())])
FIELDS = AddressChanged.field_names()

text = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=30
)
addresses = st.builds(
    Address,
    street=text,
    house_number=st.text(min_size=1, max_size=20).filter(str.strip),
    postal_code=st.none() | st.from_regex(r"[0-9]{4,6}", fullmatch=True),
    municipality_code=st.none() | st.from_regex(r"[A-Z0-9]{2,12}", fullmatch=True),
    country=st.from_regex(r"[A-Z]{2}", fullmatch=True),
)
events = st.builds(
    AddressChanged,
    subject_id=st.from_regex(r"[A-Za-z0-9-]{4,40}", fullmatch=True),
    previous_address=addresses,
    new_address=addresses,
    effective_date=st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
    moved_abroad=st.booleans(),
    disclosure_block=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(event=events, subset=st.sets(st.sampled_from(FIELDS)))
def test_verify_of_present_is_the_event_restricted_to_the_subset(
    event: AddressChanged, subset: set[str]
) -> None:
    token = issue_event(event, KEY).token
    verified = verify_event(present(token, subset), KEYS)
    assert dict(verified.fields) == {name: getattr(event, name) for name in subset}
    assert verified.attributes.type == "population.AddressChanged"


@settings(max_examples=100, deadline=None)
@given(event=events, subset=st.sets(st.sampled_from(FIELDS)))
def test_present_after_verify_keeps_the_same_parts_as_present_on_the_token(
    event: AddressChanged, subset: set[str]
) -> None:
    # The enforcer presents from the verified token: same signed JWT, same disclosures.
    token = issue_event(event, KEY).token
    from_verified = verify_event(token, KEYS).present(subset)
    assert set(from_verified.split("~")) == set(present(token, subset).split("~"))
