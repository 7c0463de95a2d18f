"""Check a document against the official AsyncAPI 3.0.0 JSON Schema (vendored in vendor/, see its
README), and that every `$ref` in it points at something: the schema alone cannot say that."""

import json
from collections.abc import Iterator
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft7Validator

from bus.contracts.errors import ContractError

_SCHEMA_FILE = "asyncapi-3.0.0.schema.json"


@cache
def _validator() -> Draft7Validator:
    text = files("bus.contracts").joinpath("vendor", _SCHEMA_FILE).read_text(encoding="utf-8")
    return Draft7Validator(json.loads(text))  # the schema declares draft-07 itself


def asyncapi_problems(document: dict[str, Any]) -> list[str]:
    """What the official schema refuses in `document`, and every local `$ref` that resolves to
    nothing, each as `path: message`; empty if the document is valid."""
    problems = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(document)'}: {error.message}"
        for error in _validator().iter_errors(document)
    ]
    problems += [f"{ref}: points at nothing" for ref in _dangling(document, document)]
    return problems


def check_asyncapi(document: dict[str, Any]) -> None:
    """ContractError listing the problems if `document` is not a valid AsyncAPI 3.0.0 document."""
    problems = asyncapi_problems(document)
    if problems:
        listed = "\n  ".join(problems[:20])
        raise ContractError(f"the AsyncAPI document is invalid (a bug of the bus):\n  {listed}")


def _dangling(node: object, root: dict[str, Any]) -> Iterator[str]:
    if isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str) and not _resolves(reference, root):
            yield reference
        for value in node.values():
            yield from _dangling(value, root)
    elif isinstance(node, list):
        for item in node:
            yield from _dangling(item, root)


def _resolves(reference: str, root: dict[str, Any]) -> bool:
    if not reference.startswith("#/"):
        return False  # the bus writes self-contained documents
    current: object = root
    for part in reference[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(current, dict) or part not in current:
            return False
        current = current[part]
    return True
