"""Every listener of every broker encrypts and authenticates: SASL_SSL, nothing else.

PLAINTEXT and SASL_PLAINTEXT carry passwords and personal data in clear; PLAINTEXT and SSL
without client certificates let anyone in as User:ANONYMOUS. `allow.everyone.if.no.acl.found`
would turn deny-by-default around.
"""

from bus.control.doctor.finding import Finding
from bus.kafka.admin import KafkaAdmin

CHECK = "tls"
_SAFE = {"SASL_SSL"}


def check_listeners(admin: KafkaAdmin) -> list[Finding]:
    """A finding per broker listener that is not SASL_SSL, and per broker open by default."""
    findings: list[Finding] = []
    for broker_id in sorted(admin.broker_endpoints()):
        config = admin.broker_config(broker_id)
        protocols = _protocol_map(config.get("listener.security.protocol.map") or "")
        for listener in _listener_names(config.get("listeners") or ""):
            protocol = protocols.get(listener, listener)  # unmapped: the name is the protocol
            if protocol not in _SAFE:
                findings.append(
                    Finding(
                        CHECK,
                        f"broker {broker_id}: listener {listener} speaks {protocol}"
                        + (
                            " (anyone connects as User:ANONYMOUS)" if "SASL" not in protocol else ""
                        ),
                        "map it to SASL_SSL in listener.security.protocol.map (bus kafka certs"
                        " makes the lab's certificates)",
                    )
                )
        if (config.get("allow.everyone.if.no.acl.found") or "false").lower() == "true":
            findings.append(
                Finding(
                    CHECK,
                    f"broker {broker_id}: allow.everyone.if.no.acl.found=true (a resource without"
                    " ACLs is open to every principal)",
                    "set it to false",
                )
            )
    return findings


def _protocol_map(value: str) -> dict[str, str]:
    pairs = (item.split(":", 1) for item in value.split(",") if ":" in item)
    return {name.strip(): protocol.strip() for name, protocol in pairs}


def _listener_names(value: str) -> list[str]:
    return [item.split("://", 1)[0].strip() for item in value.split(",") if "://" in item]
