"""Every `bus` command (but `bus audit …`, swept in tests/integration/test_audit_hostile_input.py)
turns bad input into one clear line and exit 1 or 2 that names the option or the value — never a
traceback, never a bug's "unexpected error", and never by getting as far as the broker.

The commands and their options are read from the CLI itself, so a new option is swept by its type
(text, number, choice, path in or out, file or folder); a new command fails
`test_every_command_has_a_baseline` until it gets valid values here to be swept against. The
broker's settings are made invalid on purpose (BUS_KAFKA_PORT=1): a hostile value that were let
through would end in that error instead of its own, and nothing long-running can start.
"""

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import pytest
import typer
from typer.testing import CliRunner

from bus.bridge.bridge_key import generate_bridge_key
from bus.cli.failures import UNEXPECTED
from bus.cli.main import app
from bus.keys import AgencySigningKey

REFERENCE = str(Path("policies/reference").resolve())
EVENT = str(Path("policies/reference/examples/address-changed-munich.json").resolve())
TYPE = "population.AddressChanged"
NON_UTF8 = os.fsdecode(b"\xff\xfe")  # what a non-UTF-8 argument becomes (surrogate escapes)
SKIPPED_GROUPS = ("audit",)
PRODUCER = AgencySigningKey.generate("muni-muc")

# Valid values for each command's required parameters (and what a sweep must not trip over).
# `{tmp}` is the test's own folder.
BASELINES: dict[str, dict[str, str]] = {
    "subscribe": {
        "consumer": "tax-by",
        "event_type": TYPE,
        "purpose": "tax-residence",
        "policy": REFERENCE,
    },
    "unsubscribe": {"consumer": "tax-by", "event_type": TYPE, "purpose": "tax-residence"},
    "subscriptions": {},
    "enforce": {},
    "lab tools": {},
    "watch": {},
    "demo": {},
    "kafka provision": {},
    "kafka up": {},
    "kafka down": {},
    "kafka reset": {},
    "kafka status": {},
    "kafka certs": {},
    "postgres up": {},
    "postgres down": {},
    "postgres status": {},
    "postgres url": {},
    "catalog list": {},
    "catalog check": {},
    "catalog show": {"event_type": TYPE},
    "agency keygen": {"agency": "tax-by"},
    "agency onboard": {"agency": "tax-by"},
    "agency offboard": {"agency": "tax-by"},
    "policy check": {"directory": REFERENCE},
    "policy explain": {
        "directory": REFERENCE,
        "event_file": EVENT,
        "consumer": "tax-by",
        "purpose": "tax-residence",
    },
    "policy diff": {"old": REFERENCE, "new": REFERENCE},
    "policy export": {"directory": REFERENCE, "cedar": "{tmp}/cedar"},
    "policy apply": {"directory": REFERENCE},
    "policy sign": {"directory": REFERENCE, "key": "{tmp}/key.pem", "approver": "dpo"},
    "policy approvals": {"directory": REFERENCE},
    "policy history": {},
    "acl sync": {},
    "topics reconcile": {},
    "topics provision": {},
    "doctor": {},
    "register-adapter run": {"agency": "muni-09162000", "inbox": "{tmp}/inbox"},
    "back-office run": {"agency": "tax-by"},
    "back-office purge": {"agency": "tax-by"},
    "bridge keygen": {"agency": "tax-by"},
    "bridge webhook": {
        "agency": "tax-by",
        "url": "https://back-office.example/deliveries",
        "purpose": "tax-residence",
        "key": "{tmp}/tax-by.bridge-key.pem",
        "keys": "{tmp}/keys",
    },
    "bridge receiver": {
        "port": "8080",
        "db": "{tmp}/receiver.db",
        "bridge_public_key": "{tmp}/tax-by.bridge-public.pem",
        "keys": "{tmp}/keys",
    },
    "interest add": {"agency": "tax-by", "subject": "P-0001", "purpose": "tax-residence"},
    "interest remove": {"agency": "tax-by", "subject": "P-0001", "purpose": "tax-residence"},
    "interest list": {"agency": "tax-by", "purpose": "tax-residence"},
    "contracts asyncapi": {"consumer": "tax-by", "policy": REFERENCE},
    "contracts jsonschema": {},
    "sdk views": {"consumer": "tax-by", "policy": REFERENCE},
}

TEXT = ["", "x" * 5000, "a\x00b", "../../../etc/passwd", "tax by", "Ünï\u202ecode", NON_UTF8]
INTEGER = ["", "abc", "1.5", "99999999999999999999999999", "-99999999999999999999999999", "\x00"]
NUMBER = ["", "abc", "nan", "inf", "-inf", "1e999", "-1", "1e300", "\x00"]
CHOICE = ["", "bogus", "\x00", NON_UTF8]


@dataclass(frozen=True)
class Case:
    command: str
    param: str
    value: str

    def __str__(self) -> str:
        return f"{self.command} {self.param}={self.value[:40]!r}"


def commands(group: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    group = group or typer.main.get_command(app)
    for name, command in group.commands.items():
        if not path and name in SKIPPED_GROUPS:
            continue
        if hasattr(command, "commands"):
            yield from commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def annotation(param: Any) -> Any:
    """The parameter's type, without `| None`."""
    kind = param.type_descriptor.annotation
    if get_origin(kind) in (Union, UnionType):
        kind = next(a for a in get_args(kind) if a is not type(None))
    return kind


def hostile_values(param: Any, tmp: Path) -> list[str]:
    kind = annotation(param)
    if kind is bool:
        return []
    if isinstance(kind, type) and issubclass(kind, Enum):
        return CHOICE
    if kind is int:
        return INTEGER
    if kind is float:
        return NUMBER
    if kind is Path:
        return path_values(param, tmp)
    return TEXT


def path_values(param: Any, tmp: Path) -> list[str]:
    info = param.type_descriptor.parameter_info
    values = [f"{tmp}/a\x00b"]
    if info.exists:
        values += [f"{tmp}/missing", f"{tmp}/../../../../../missing-{os.getpid()}", NON_UTF8]
    if not info.dir_okay:
        values += [str(tmp), ""]  # a folder (and "", the current folder) where a file is expected
    if not info.file_okay:
        values += [str(tmp / "plain-file")]  # a file where a folder is expected
    if info.metavar == "DIR" or param.name in ("directory", "old", "new"):
        values += [str(p) for p in broken_policy_sets(tmp)]
    if param.name == "event_file":
        values += [str(p) for p in broken_event_files(tmp)]
    if param.name == "database":
        values += [str(tmp / "plain-file")]  # not an SQLite database
    return values


# agencies.yaml of an otherwise valid policy set, and event files for `bus policy explain --event`.
BROKEN_AGENCIES = {
    "malformed-yaml": b"agencies: [\n  - id: {unclosed\n",
    "non-utf8": b"agencies:\n  - id: \xff\xfe\n",
    "nul-bytes": b"agencies:\n  - id: a\x00b\n",
    "wrong-shape": b"agencies: 42\n",
    "huge-number": b"agencies:\n  - id: x\n    jurisdiction: 1e99999\n",
}
BROKEN_EVENTS = {
    "malformed.json": b'{"type": "population.AddressChanged", ',
    "non-utf8.json": b'{"type": "\xff\xfe"}',
    "nul.json": b'{"type": "a\x00b"}',
    "array.json": b"[1, 2]",
    "huge.json": b'{"type": "population.AddressChanged", "version": 1e99999, "data": {}}',
    "empty.json": b"",
}


def broken_policy_sets(tmp: Path) -> list[Path]:
    empty = tmp / "empty-policy"
    empty.mkdir(exist_ok=True)
    return [
        empty,
        *(policy_with_agencies(tmp / f"policy-{n}", c) for n, c in BROKEN_AGENCIES.items()),
    ]


def policy_with_agencies(directory: Path, agencies: bytes) -> Path:
    if not directory.exists():
        shutil.copytree(REFERENCE, directory)
        (directory / "agencies.yaml").write_bytes(agencies)
    return directory


def broken_event_files(tmp: Path) -> list[Path]:
    for name, content in BROKEN_EVENTS.items():
        (tmp / name).write_bytes(content)
    return [tmp / name for name in BROKEN_EVENTS]


def argv(command: Any, values: dict[str, str]) -> list[str]:
    words: list[str] = []
    for param in command.params:
        if param.name not in values:
            continue
        if param.param_type_name == "argument":
            words.append(values[param.name])
        else:
            words += [param.opts[0], values[param.name]]
    return words


def cases(tmp: Path) -> list[tuple[Case, list[str]]]:
    found = []
    for name, command in commands():
        baseline = {k: v.format(tmp=tmp) for k, v in BASELINES.get(name, {}).items()}
        for param in command.params:
            if param.name in ("help",) or getattr(param, "is_eager", False):
                continue
            for value in hostile_values(param, tmp):
                words = name.split() + argv(command, {**baseline, param.name: value})
                found.append((Case(name, param.name, value), words))
    return found


def mentions(output: str, param: Any, value: str) -> bool:
    """Whether the message names the option (flag, metavar, name) or the value given."""
    flat = re.sub(r"[│╭╮╰╯─\s]+", " ", output)
    names = [*param.opts, param.name, param.name.upper(), str(param.metavar or "")]
    # A message may cut a long value short; a short one (a path) must be there whole.
    cut = value if len(value) <= 80 else value[:60]
    shown = cut.replace("\x00", "\\x00")
    quoted = repr(cut)[:-1]  # as a message quotes it (opening quote, no closing one)
    return (
        any(n and n in flat for n in names)
        or (bool(shown.strip()) and shown in flat)
        or quoted in flat
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BUS_KAFKA_STATE_DIR", str(tmp_path / "kafka"))
    monkeypatch.setenv("BUS_KAFKA_PORT", "1")  # invalid: nothing reaches (or starts) a broker
    (tmp_path / "inbox").mkdir()
    (tmp_path / "plain-file").write_text("not what was asked for\n")
    # Valid keys for the bridge's commands, so the sweep reaches each of their options.
    generate_bridge_key("tax-by", tmp_path)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "muni-muc.pub.pem").write_bytes(PRODUCER.public_pem())
    return tmp_path


def test_every_command_has_a_baseline() -> None:
    missing = sorted(name for name, _ in commands() if name not in BASELINES)
    assert not missing, f"add valid values for {missing} to BASELINES, so they are swept"


def test_every_command_explains_itself(home: Path) -> None:
    runner = CliRunner()
    for name, _ in commands():
        result = runner.invoke(app, [*name.split(), "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output


def test_hostile_values_give_a_clear_error_never_a_traceback(home: Path) -> None:
    runner = CliRunner()
    failures = []
    swept = 0
    for case, words in cases(home):
        param = next(
            p for n, c in commands() if n == case.command for p in c.params if p.name == case.param
        )
        result = runner.invoke(app, words)
        swept += 1
        output = result.output
        escaped = result.exception
        problem = None
        if escaped is not None and not isinstance(escaped, SystemExit):
            problem = f"raised {type(escaped).__name__}: {escaped}"[:300]
        elif result.exit_code not in (1, 2):
            problem = f"exit {result.exit_code}"
        elif "Traceback" in output or UNEXPECTED in output:
            problem = "a traceback or an unexpected error"
        elif "BUS_KAFKA_PORT" in output:
            problem = "not refused before reaching the broker"
        elif not mentions(output, param, case.value):
            problem = "the message names neither the option nor the value"
        if problem:
            failures.append(f"{case}: {problem}\n    {' '.join(output.split())[:300]}")
    assert swept > 200
    assert not failures, f"{len(failures)} of {swept}:\n" + "\n".join(failures)
