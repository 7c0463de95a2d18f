"""Read a policy set directory into validated documents; every error points at file, line and key."""

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from bus.policy.approval_documents import ApprovalsFile
from bus.policy.documents import (
    FILES,
    AgenciesFile,
    GrantsFile,
    ProducersFile,
    PurposesFile,
    TerritoriesFile,
)
from bus.policy.errors import PolicyError, PolicyFileError
from bus.policy.yaml_lines import DuplicateKeyError, line_of, load_with_lines


@dataclass(frozen=True)
class PolicySet:
    """The documents of one policy set, as written (not yet cross-checked or compiled)."""

    directory: Path
    territories: TerritoriesFile
    agencies: AgenciesFile
    purposes: PurposesFile
    producers: ProducersFile
    grants: GrantsFile
    approvals: ApprovalsFile | None = None  # approvals.yaml is optional: None, no approval rules


APPROVALS_FILE = "approvals.yaml"


def load_policy_set(directory: Path) -> PolicySet:
    """Load and validate the five files of the policy set in `directory` (and approvals.yaml if
    there is one); the first problem found is a PolicyError (PolicyFileError naming file, line and
    key)."""
    if not directory.is_dir():
        raise PolicyError(f"{directory}: policy set directory not found")
    documents = {name: _load_file(directory / name, model) for name, model in FILES.items()}
    approvals_path = directory / APPROVALS_FILE
    approvals = _load_file(approvals_path, ApprovalsFile) if approvals_path.exists() else None
    return PolicySet(
        directory=directory,
        territories=documents["territories.yaml"],  # type: ignore[arg-type]
        agencies=documents["agencies.yaml"],  # type: ignore[arg-type]
        purposes=documents["purposes.yaml"],  # type: ignore[arg-type]
        producers=documents["producers.yaml"],  # type: ignore[arg-type]
        grants=documents["grants.yaml"],  # type: ignore[arg-type]
        approvals=approvals,  # type: ignore[arg-type]
    )


def _load_file(path: Path, model: type) -> object:
    if not path.is_file():
        raise PolicyFileError(path, None, "", f"missing; a policy set needs {', '.join(FILES)}")
    try:
        data, lines = load_with_lines(path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise PolicyFileError(
            path, line, "", f"not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    except DuplicateKeyError as exc:
        raise PolicyFileError(path, exc.line, "", str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFileError(path, None, "", f"cannot be read ({exc})") from None
    if data is None:  # an empty file is an empty list (no rules for approvals.yaml), not an error
        data = {} if path.name == APPROVALS_FILE else {path.stem: []}
    try:
        return model.model_validate(data)  # type: ignore[attr-defined]
    except ValidationError as exc:
        error = exc.errors()[0]
        location = tuple(error["loc"])
        key = ".".join(str(part) for part in location)
        problem = f"{error['msg']}"
        if error["type"] != "missing" and "input" in error:
            problem += f" (got {error['input']!r})"
        if error["type"] == "string_type" and isinstance(error.get("input"), int):
            problem += "; quote codes in YAML ('09162000'), or leading zeros are lost"
        more = len(exc.errors()) - 1
        if more:
            problem += f"; and {more} more problem(s) in this file"
        raise PolicyFileError(path, line_of(lines, location), key, problem) from None
