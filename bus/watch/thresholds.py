"""The watch's thresholds: a YAML file beside the policy set (policies/reference/watch.yaml, each
key documented there), read strictly. A wrong file is refused with the file, the line, the key
and what to do, before the watch connects to anything."""

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bus.errors import ConfigError
from bus.policy.yaml_lines import DuplicateKeyError, line_of, load_with_lines

DEFAULT_FILE = "watch.yaml"
Seconds = Annotated[int, Field(ge=1, le=30 * 86_400)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaselineBurst(_Strict):
    """Alert when one key's count in a window exceeds `factor` × the median of its own previous
    `history_windows` windows, and at least `floor` (so a quiet key does not alert on its first
    few records)."""

    window_seconds: Seconds
    history_windows: Annotated[int, Field(ge=1, le=168)]
    factor: Annotated[float, Field(gt=1, le=1_000)]
    floor: Annotated[int, Field(ge=1)]


class PersonSpread(_Strict):
    """Alert when one person's data is released to more than `max_consumers` agencies in a
    window."""

    window_seconds: Seconds
    max_consumers: Annotated[int, Field(ge=1)]


class PersonDenials(_Strict):
    """Alert when decisions about one person are denied more than `max_denials` times in a
    window."""

    window_seconds: Seconds
    max_denials: Annotated[int, Field(ge=1)]


class SilentProducer(_Strict):
    """Alert when a producer that had at least `min_records` audit records in its previous
    `history_windows` windows of `silence_seconds` has had none for `silence_seconds`."""

    silence_seconds: Seconds
    history_windows: Annotated[int, Field(ge=1, le=168)]
    min_records: Annotated[int, Field(ge=1)]


class Thresholds(_Strict):
    """Every rule's thresholds (see policies/reference/watch.yaml for what each rule is for)."""

    bulk_release: BaselineBurst
    probing: BaselineBurst
    quarantine_burst: BaselineBurst
    person_spread: PersonSpread
    person_denials: PersonDenials
    silent_producer: SilentProducer


def load_thresholds(path: Path) -> Thresholds:
    """The thresholds in `path`; ConfigError names the file, the line, the key and the fix."""
    hint = "fix it (each key is explained in policies/reference/watch.yaml)"
    try:
        data, lines = load_with_lines(path)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: missing; copy policies/reference/watch.yaml beside your policy set, or "
            "pass --thresholds FILE"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(
            f"{where}: not valid YAML ({getattr(exc, 'problem', exc)}); {hint}"
        ) from None
    except DuplicateKeyError as exc:
        raise ConfigError(f"{path}:{exc.line}: {exc}; {hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    try:
        return Thresholds.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = tuple(error["loc"])
        key = ".".join(str(part) for part in location) or "(the file)"
        line = line_of(lines, location)
        where = f"{path}:{line}" if line else str(path)
        problem = str(error["msg"])
        if error["type"] != "missing" and "input" in error:
            problem += f" (got {error['input']!r})"
        raise ConfigError(f"{where}: {key}: {problem}; {hint}") from None
