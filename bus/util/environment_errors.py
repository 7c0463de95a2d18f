"""How a settings class read from environment variables reports what is wrong: each variable by
its full name, the reason and the value found, so the operator knows which one to fix."""

from pydantic import ValidationError
from pydantic_core import ErrorDetails


def variable_problems(exc: ValidationError, prefix: str) -> str:
    """The problems of `exc` as `PREFIX_NAME: reason (got value)`, joined by semicolons; a rule
    over several settings (no single variable to name) as its reason alone."""
    return "; ".join(_problem(err, prefix) for err in exc.errors())


def _problem(err: ErrorDetails, prefix: str) -> str:
    if not err["loc"]:
        return str(err["msg"]).removeprefix("Value error, ")
    name = "_".join(str(p) for p in err["loc"]).upper()
    return f"{prefix}{name}: {err['msg']} (got {err.get('input')!r})"
