"""The doctor's pure parts: reading a broker's listener settings, and findings' wording."""

from bus.control.doctor.finding import CheckResult, Finding
from bus.control.doctor.listeners import _listener_names, _protocol_map


def test_listener_settings_are_read_as_kafka_writes_them() -> None:
    assert _protocol_map("CLIENT:SASL_SSL, CONTROLLER:SASL_SSL,OLD:PLAINTEXT") == {
        "CLIENT": "SASL_SSL",
        "CONTROLLER": "SASL_SSL",
        "OLD": "PLAINTEXT",
    }
    listeners = "CLIENT://127.0.0.1:19092,CONTROLLER://[::1]:19093, PLAINTEXT://:9092"
    assert _listener_names(listeners) == ["CLIENT", "CONTROLLER", "PLAINTEXT"]


def test_a_result_is_healthy_only_without_findings() -> None:
    finding = Finding("tls", "broker 1: listener OLD speaks PLAINTEXT", "map it to SASL_SSL")
    assert str(finding) == "[tls] broker 1: listener OLD speaks PLAINTEXT -> map it to SASL_SSL"
    assert CheckResult("tls", "listeners", ()).healthy
    assert not CheckResult("tls", "listeners", (finding,)).healthy
