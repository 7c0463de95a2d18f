"""Values from outside as an error message shows them."""

SHOWN_LENGTH = 80


def shown(value: str) -> str:
    """Quoted, control characters escaped (a value cannot forge lines in a log or terminal), cut
    short (nor flood it)."""
    return repr(value[:SHOWN_LENGTH]) + ("…" if len(value) > SHOWN_LENGTH else "")
