"""No service, SDK or operator command uses the broker's admin credential (issue 14): each connects
through its own connection profile (bus/kafka/profile.py). This test reads the source: a module
outside the exceptions below that imports the lab (`bus.devenv`), calls `admin_connection` or
touches `admin_password`, or names the admin's password file (`admin.password`) fails it, naming
the file, line and what it found. (The import-linter contract "The services, the SDKs and the
operator's commands do not use the lab" in pyproject.toml guards the imports too.)"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("bus", "producers", "consumers")

# Each exception, and why it may use the admin.
EXCEPTIONS = {
    "bus/devenv": "the lab itself: runs the broker and creates the services' users with the admin",
    "bus/cli/kafka.py": "`bus kafka up/down/status`: the lab's own commands",
    "bus/cli/postgres.py": "`bus postgres …`: the lab's own PostgreSQL",
    "bus/cli/lab.py": "`bus lab tools`: the tools the lab's tests run (promtool, Chromium)",
    # The demo only starts the lab; then every part runs as its own principal (the operator, the
    # enforcer, the audit indexer, each agency), from the profiles `bus kafka up` wrote.
    "bus/demo/runner.py": "the lab demo: starts the lab broker (`broker.up`)",
    "bus/kafka/settings.py": "the lab broker's settings: where the lab keeps the admin password",
}
FORBIDDEN_CALLS = frozenset({"admin_connection", "admin_password"})


def _excepted(relative: str) -> bool:
    return any(relative == e or relative.startswith(e + "/") for e in EXCEPTIONS)


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring constants (a docstring may mention anything)."""
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            found.add(id(first.value))
    return found


def uses_of_the_admin(source: str) -> list[tuple[int, str]]:
    """(line, what) for each use of the lab or the admin's credential in `source`."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, f"imports {a.name}")
                for a in node.names
                if a.name == "bus.devenv" or a.name.startswith("bus.devenv.")
            ]
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = node.module
            if module == "bus.devenv" or module.startswith("bus.devenv."):
                found.append((node.lineno, f"imports from {module}"))
            elif module == "bus" and any(a.name == "devenv" for a in node.names):
                found.append((node.lineno, "imports bus.devenv"))
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_CALLS:
            found.append((node.lineno, f"uses .{node.attr}"))
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_CALLS:
            found.append((node.lineno, f"uses {node.id}"))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and "admin.password" in node.value
            and id(node) not in docstrings
        ):
            found.append((node.lineno, "names the admin's password file (admin.password)"))
    return found


def test_no_service_sdk_or_operator_command_uses_the_admin() -> None:
    offences = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if _excepted(relative):
                continue
            offences += [
                f"{relative}:{line}: {what}" for line, what in uses_of_the_admin(path.read_text())
            ]
    assert not offences, (
        "these connect as (or reach for) the broker's admin; load the role's connection profile"
        " instead (bus/kafka/profile.py):\n" + "\n".join(offences)
    )


@pytest.mark.parametrize(
    "source",
    [
        "from bus.devenv import broker\n",
        "import bus.devenv.broker\n",
        "from bus import devenv\n",
        "from bus.devenv.broker import admin_connection\n",
        "c = broker.admin_connection(settings)\n",
        "p = settings.admin_password\n",
        "p = (state / 'admin.password').read_text()\n",
    ],
)
def test_the_guard_sees_each_kind_of_use(source: str) -> None:
    assert uses_of_the_admin(source)


def test_the_guard_ignores_docstrings_and_other_names() -> None:
    source = '"""Never reads admin.password."""\nfrom bus.kafka.profile import load_profile\n'
    assert uses_of_the_admin(source) == []


def test_every_exception_exists() -> None:
    # An exception left behind after its module moved would hide a new module of that name.
    assert [e for e in EXCEPTIONS if not (ROOT / e).exists()] == []
