"""Values of the right shape that the bus does not know, on the real broker: each command says so
in one line (a refusal is audited, an unknown subscription changes nothing), never a traceback.
Shapes are swept offline in tests/unit/test_cli_hostile_inputs.py."""

import pytest
from typer.testing import CliRunner

from bus.cli.failures import UNEXPECTED
from bus.cli.main import app
from bus.kafka.connection import KafkaConnection
from tests.support.kafka import unique_name

TYPE = "population.AddressChanged"
REFERENCE = "policies/reference"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            [
                "subscribe",
                "--consumer",
                "{nobody}",
                "--event-type",
                TYPE,
                "--purpose",
                "tax-residence",
                "--policy",
                REFERENCE,
            ],
            1,
            "refused (UNKNOWN_CONSUMER",
        ),
        (
            [
                "subscribe",
                "--consumer",
                "tax-by",
                "--event-type",
                TYPE,
                "--purpose",
                "{nobody}",
                "--policy",
                REFERENCE,
            ],
            1,
            "refused (",
        ),
        (
            [
                "unsubscribe",
                "--consumer",
                "{nobody}",
                "--event-type",
                TYPE,
                "--purpose",
                "tax-residence",
            ],
            0,
            "not subscribed: {nobody}",
        ),
        (["agency", "offboard", "{nobody}"], 1, "unknown agency '{nobody}'"),
    ],
)
def test_unknown_values_get_one_clear_line(
    kafka_broker: KafkaConnection, args: list[str], code: int, message: str
) -> None:
    nobody = unique_name("nobody")
    result = CliRunner().invoke(app, [a.format(nobody=nobody) for a in args])
    assert result.exit_code == code, result.output
    assert message.format(nobody=nobody) in result.output
    assert "Traceback" not in result.output
    assert UNEXPECTED not in result.output
