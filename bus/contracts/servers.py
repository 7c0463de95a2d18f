"""The document's servers: the bus's bootstrap brokers, or a placeholder the agency fills in, and
how a consumer authenticates (SASL SCRAM-SHA-512, as every principal of the bus does)."""

from collections.abc import Sequence
from typing import Any

from bus.kafka.connection import SCRAM

SECURITY_SCHEME = "scram"
_SCHEME_REFERENCE = {"$ref": f"#/components/securitySchemes/{SECURITY_SCHEME}"}


def server_objects(bootstrap: Sequence[str], tls: bool) -> dict[str, Any]:
    """One server per bootstrap `host:port`; none given: one whose host is the server variable
    `bootstrap`, since the same contract serves every deployment of the bus."""
    protocol = "kafka-secure" if tls else "kafka"
    over = "over TLS" if tls else "without TLS (a lab broker only)"
    common = {"protocol": protocol, "security": [_SCHEME_REFERENCE]}
    if not bootstrap:
        return {
            "bus": {
                "host": "{bootstrap}",
                "description": f"The bus's Kafka brokers; SASL {SCRAM} {over}.",
                "variables": {
                    "bootstrap": {
                        "description": "A bootstrap broker as host:port, from the connection "
                        "profile the bus's operator issues (docs/connection-profile.md)."
                    }
                },
                **common,
            }
        }
    return {
        f"broker-{number}": {
            "host": host,
            "description": f"Bootstrap broker {number} of the bus; SASL {SCRAM} {over}.",
            **common,
        }
        for number, host in enumerate(bootstrap, start=1)
    }


def security_schemes() -> dict[str, Any]:
    """The one way in: the agency's SCRAM credential, which the bus's operator issues."""
    return {
        SECURITY_SCHEME: {
            "type": "scramSha512",
            "description": (
                f"SASL {SCRAM} with the consumer agency's own principal; its ACLs allow reading "
                "exactly the channels of this document, with consumer groups named after the agency."
            ),
        }
    }
