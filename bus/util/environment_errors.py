"""How a settings class read from environment variables reports what is wrong: each variable by
its full name, the reason and the value found, so the operator knows which one to fix."""

from pydantic import ValidationError


def variable_problems(exc: ValidationError, prefix: str) -> str:
    """The problems of `exc` as `PREFIX_NAME: reason (got value)`, joined by semicolons."""
    return "; ".join(
        f"{prefix}{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
        f" (got {err.get('input')!r})"
        for err in exc.errors()
    )
