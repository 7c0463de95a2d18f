"""Where a record came from, as one string: in quarantine and dead-letter headers and in logs."""


def record_position(topic: str, partition: int, offset: int) -> str:
    """`topic/partition/offset`."""
    return f"{topic}/{partition}/{offset}"
