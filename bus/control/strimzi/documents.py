"""Kubernetes resources as one multi-document YAML stream."""

from collections.abc import Iterable, Mapping

import yaml


def to_yaml(resources: Iterable[Mapping[str, object]], header: str = "") -> str:
    """`resources` as YAML documents separated by `---`, keys in the order given, after a comment
    `header` (one or more lines)."""
    comment = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    body = "".join(
        "---\n" + yaml.safe_dump(dict(r), sort_keys=False, default_flow_style=False)
        for r in resources
    )
    return comment + body
