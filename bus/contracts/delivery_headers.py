"""The Kafka headers of a delivery: the CloudEvents binary-mode attributes (kafka_binding.py) and
the bus's own, which the enforcer sets (bus/enforcer/pipeline.py). Headers are not signed; the
signed copies of the `ce_` values are inside the SD-JWT, and a consumer's SDK checks they agree.
tests/unit/test_contracts_enforcer.py checks this schema against the enforcer's real deliveries."""

from typing import Any

from bus.contracts.channels import ChannelMessage, ConsumerChannel
from bus.envelope.attributes import CONTENT_TYPE, SPECVERSION
from bus.record.erase_by import ERASE_BY_HEADER

_TIME = {"type": "string", "format": "date-time"}


def _const(value: str, description: str) -> dict[str, Any]:
    return {"type": "string", "const": value, "description": description}


def headers_schema(channel: ConsumerChannel, message: ChannelMessage) -> dict[str, Any]:
    """The headers every delivery of `message` on `channel` carries, with their values where the
    contract fixes them; `ce_subject` only where the subject's identifier is released."""
    event_class = message.event_class
    properties: dict[str, Any] = {
        "ce_specversion": _const(SPECVERSION, "CloudEvents specversion."),
        "ce_id": {"type": "string", "description": "The event's id (a UUIDv7), unique per event."},
        "ce_source": {"type": "string", "description": "The producing agency's id."},
        "ce_type": _const(event_class.event_type, "CloudEvents type: the event type."),
        "ce_time": {**_TIME, "description": "When the event happened (RFC 3339, UTC)."},
        "ce_dataschema": _const(
            event_class.dataschema(), "The catalogue schema of this type and version."
        ),
        "content-type": _const(CONTENT_TYPE, "The record's value is an SD-JWT presentation."),
        "bus_purpose": _const(channel.purpose.code, "The purpose this delivery was released for."),
        "bus_grant": {
            "type": "string",
            "enum": list(message.grant_ids),
            "description": "The grant of the policy set that permitted the delivery.",
        },
        "bus_snapshot": {
            "type": "string",
            "pattern": "^sha256:[0-9a-f]{64}$",
            "description": "The content hash of the policy set the enforcer decided with.",
        },
        ERASE_BY_HEADER: {
            **_TIME,
            "description": (
                "By when the consumer must have erased its copy: the decision time plus the "
                f"purpose's retention of {channel.purpose.retention_days} days."
            ),
        },
    }
    required = list(properties)
    if event_class.subject_field in message.released:
        properties["ce_subject"] = {"type": "string", "description": "The subject's identifier."}
        if event_class.subject_field in message.always:
            required.append("ce_subject")
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def key_schema(message: ChannelMessage) -> dict[str, Any]:
    """The record key: the subject's identifier where released, else the consumer's own
    pseudonym of it; either way one person's events share a partition and stay in order."""
    subject = message.event_class.subject_field
    if subject in message.always:
        return {"type": "string", "description": "The subject's identifier."}
    if subject in message.released:  # by some of the channel's grants only
        return {"type": "string", "description": "The subject's identifier, or its pseudonym."}
    return {
        "type": "string",
        "pattern": "^psn-",
        "description": "A pseudonym of the subject, stable for this consumer only.",
    }
