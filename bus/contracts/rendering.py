"""A document as JSON or YAML text, chosen by the file's extension (JSON unless .yaml or .yml)."""

import json
from pathlib import Path
from typing import Any

import yaml

YAML_SUFFIXES = (".yaml", ".yml")


def render(document: dict[str, Any], path: Path | None = None) -> str:
    """`document` as text for `path` (stdout when None: JSON)."""
    if path is not None and path.suffix.lower() in YAML_SUFFIXES:
        # Key order as built (info before channels), not sorted: people read these files too.
        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
