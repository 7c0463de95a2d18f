"""No agency id may start with `bus-`: the enforcer's transactional ids do (`bus-enforcer.tx.…`),
and an agency is granted the transactional-id prefix `<id>.`: one named `bus-enforcer` could fence
the enforcer's producers. Refused on the CLI and in a policy set."""

import pytest
from pydantic import ValidationError

from bus.control.agency_ids import check_agency_id
from bus.errors import ConfigError
from bus.policy.documents import Agency, Level


@pytest.mark.parametrize("agency", ["bus-enforcer", "bus-x"])
def test_an_agency_id_may_not_take_the_bus_prefix(agency: str) -> None:
    with pytest.raises(ConfigError, match="may not start with 'bus-'"):
        check_agency_id(agency)
    with pytest.raises(ValidationError, match="may not start with 'bus-'"):
        Agency(
            id=agency,
            name="Rogue",
            level=Level.STATE,
            jurisdiction="09",
            competences=("taxation",),
            kafka_principal=f"User:{agency}",
        )


def test_ids_that_merely_contain_bus_are_agencies_like_any() -> None:
    assert check_agency_id("busy-office") == "busy-office"
    assert check_agency_id("tax-bus-de") == "tax-bus-de"
