"""deploy/Dockerfile, read for its essentials (no image can be built here: no registry access):
multi-stage on python:3.11-slim, the project without dev dependencies, a non-root user, `bus` as
the entrypoint, state under one volume, and no secret added or left in the build context."""

import re
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
Instruction = tuple[str, str]


def instructions() -> list[Instruction]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def final_stage() -> list[Instruction]:
    steps = instructions()
    last = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last:]


def test_multi_stage_on_python_slim() -> None:
    bases = [args.split()[0] for keyword, args in instructions() if keyword == "FROM"]
    assert len(bases) >= 2
    assert set(bases) == {"python:3.11-slim"}


def test_runs_as_a_non_root_user_with_bus_as_entrypoint() -> None:
    stage = final_stage()
    users = [args for keyword, args in stage if keyword == "USER"]
    assert users
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    # The user exists with that id in the image.
    assert any(k == "RUN" and f"--uid {user}" in a for k, a in stage)
    assert [a for k, a in stage if k == "ENTRYPOINT"] == ['["bus"]']


def test_installs_the_project_without_dev_dependencies() -> None:
    runs = " ".join(a for k, a in instructions() if k == "RUN")
    assert re.search(r"pip install \.(\s|$)", runs)
    assert "[dev]" not in runs
    assert "requirements" not in runs


def test_state_lives_under_bus_home_on_a_volume() -> None:
    stage = final_stage()
    env = " ".join(a for k, a in stage if k == "ENV")
    home = re.search(r"BUS_HOME=(\S+)", env)
    assert home is not None
    assert [a for k, a in stage if k == "VOLUME"] == [f'["{home.group(1)}"]']


def test_no_secret_enters_the_image() -> None:
    steps = instructions()
    assert not [a for k, a in steps if k == "ADD"]  # COPY only: no remote URLs, no auto-extract
    copied = " ".join(a for k, a in steps if k == "COPY")
    assert not re.search(r"\bvar\b|\.pem|\.key|password|secret|\.env\b", copied, re.I)
    for keyword, args in steps:
        if keyword in {"ENV", "ARG"}:
            assert not re.search(r"PASSWORD|SECRET|TOKEN", args, re.I)
    # The build context leaves var/ (the lab's keys and passwords) out: everything is excluded
    # but the sources the Dockerfile copies.
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignored
    assert not [line for line in ignored if line.startswith("!var")]


def test_the_native_verifier_is_built_in_the_build_stage_only() -> None:
    steps = instructions()
    stages = [i for i, (k, _) in enumerate(steps) if k == "FROM"]
    build, final = steps[: stages[-1]], final_stage()
    runs = " ".join(a for k, a in build if k == "RUN")
    # Built before the project, so the image uses it (bus/keys/signature_check.py).
    assert runs.index("pip install ./native") < runs.index("pip install . ")
    assert "cargo" in runs
    assert not [a for k, a in final if k == "RUN" and "cargo" in a]
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert "!native/" in ignored
    assert "native/target" in ignored
