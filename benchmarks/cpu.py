"""CPU time from /proc, for benchmarks that split a run's cost between processes (the broker is
another process; this one's client threads are counted with it)."""

import os
from pathlib import Path


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds `pid` has used so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
