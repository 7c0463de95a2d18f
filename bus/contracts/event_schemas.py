"""Every event type and version of the catalogue as a JSON Schema (draft 2020-12), as producers
and consumers may check events with: the catalogue's pydantic models decide, this writes them out.
Each field keeps its `data_class` (how sensitive it is) and description, as the catalogue has them."""

from typing import Any

from bus.catalog import CATALOG, Catalog, Event

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def event_schema(event_class: type[Event]) -> dict[str, Any]:
    """The JSON Schema of one version; `$id` is its CloudEvents `dataschema`."""
    schema = event_class.model_json_schema()
    return {
        "$schema": DRAFT_2020_12,
        **schema,  # the catalogue sets `$id` (bus/catalog/event.py)
        "title": f"{event_class.event_type} v{event_class.event_version}",
        "x-event-type": event_class.event_type,
        "x-event-version": event_class.event_version,
    }


def event_schemas(catalog: Catalog = CATALOG) -> dict[str, dict[str, Any]]:
    """Every version's schema by file name, `<type>.v<version>.schema.json`."""
    return {
        f"{cls.event_type}.v{cls.event_version}.schema.json": event_schema(cls) for cls in catalog
    }
