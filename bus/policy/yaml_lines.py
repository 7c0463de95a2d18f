"""Load YAML and remember the line of every key and list item, so errors can point at them."""

from pathlib import Path
from typing import Any

import yaml

Location = tuple[str | int, ...]


class DuplicateKeyError(ValueError):
    """A key written twice in one mapping: YAML would silently keep the last, so we refuse.
    `line`: where it is written the second time."""

    def __init__(self, key: object, line: int) -> None:
        super().__init__(f"key {key!r} appears twice in one mapping (again on line {line})")
        self.line = line


def load_with_lines(path: Path) -> tuple[Any, dict[Location, int]]:
    """The document as plain data and a map from its paths (keys, list indexes) to 1-based lines."""
    node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    lines: dict[Location, int] = {}
    if node is None:
        return None, lines
    return _convert(node, (), lines), lines


def _convert(node: yaml.Node, path: Location, lines: dict[Location, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(b"").construct_object(key_node)  # scalars only in our files
            if key in result:
                raise DuplicateKeyError(key, key_node.start_mark.line + 1)
            result[key] = _convert(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return yaml.SafeLoader(b"").construct_object(node)


def line_of(lines: dict[Location, int], location: Location) -> int | None:
    """The line of the deepest known prefix of `location`."""
    for end in range(len(location), -1, -1):
        if location[:end] in lines:
            return lines[location[:end]]
    return None
