"""One way to show a value from outside in an error message: quoted, escaped, cut short; every
check of a command-line value uses it."""

from collections.abc import Callable

import pytest
import typer

from bus.cli.params import check_consumer_group, check_event_type, topic_name
from bus.control.agency_ids import check_agency_id, check_purpose_code
from bus.errors import ConfigError
from bus.util.shown_values import shown

HOSTILE = "x\n\x1b[31m" + "y" * 200


def test_a_value_is_quoted_escaped_and_cut_short() -> None:
    assert shown("tax-by") == "'tax-by'"
    assert shown(HOSTILE) == repr(HOSTILE[:80]) + "…"
    assert "\n" not in shown(HOSTILE)
    assert "\x1b" not in shown(HOSTILE)
    assert shown("z" * 80) == repr("z" * 80)  # exactly the limit: nothing cut


@pytest.mark.parametrize(
    "check",
    [check_agency_id, check_purpose_code, check_consumer_group, check_event_type, topic_name],
)
def test_every_value_check_shows_the_value_the_same_way(check: Callable[[str], object]) -> None:
    with pytest.raises((ConfigError, typer.BadParameter)) as refused:
        check(HOSTILE)
    assert str(refused.value.args[0]).startswith(f"{shown(HOSTILE)} is not a")
