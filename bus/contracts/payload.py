"""The payload schema of one message: the claims a delivery's SD-JWT presentation discloses.

Taken from the catalogue's own JSON Schema of the event version, cut down to the released fields.
The sub-schemas they use (an address) move to the document's components; only those reachable
from a released field, so a withheld field's structure is not described either.
"""

from collections.abc import Iterator
from typing import Any

from bus.contracts.channels import ChannelMessage
from bus.contracts.errors import ContractError

COMPONENT_SCHEMAS = "#/components/schemas/"


def payload_schema(message: ChannelMessage) -> tuple[dict[str, Any], dict[str, Any]]:
    """The message's payload schema and the component schemas it refers to, by name."""
    event_class = message.event_class
    full = event_class.model_json_schema(ref_template=COMPONENT_SCHEMAS + "{model}")
    properties = {name: full["properties"][name] for name in message.released}
    schema = {
        "type": "object",
        "title": f"{event_class.event_type} v{event_class.event_version}, as released",
        "description": (
            "The claims the delivery's SD-JWT presentation discloses: only these fields, each as "
            "an RFC 9901 disclosure, verifiable against the producer's signature."
        ),
        "properties": properties,
        "required": list(message.always),
        "additionalProperties": False,
    }
    return schema, _reachable(properties, full.get("$defs", {}))


def merge_components(into: dict[str, Any], more: dict[str, Any]) -> None:
    """Add `more` to the components; one name must always mean one schema."""
    for name, schema in more.items():
        if into.setdefault(name, schema) != schema:
            raise ContractError(f"two different catalogue schemas are both named {name!r}")


def _reachable(schema: object, definitions: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    pending = list(_references(schema))
    while pending:
        name = pending.pop()
        if name not in found:
            found[name] = definitions[name]
            pending.extend(_references(found[name]))
    return dict(sorted(found.items()))


def _references(schema: object) -> Iterator[str]:
    if isinstance(schema, dict):
        reference = schema.get("$ref")
        if isinstance(reference, str) and reference.startswith(COMPONENT_SCHEMAS):
            yield reference.removeprefix(COMPONENT_SCHEMAS)
        for value in schema.values():
            yield from _references(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _references(item)
