"""How long to wait before retrying after the n-th failure in a row: doubling from `initial_s` up to
`max_s`, each wait drawn from its upper half so that several processes do not retry in step."""

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """Retry waits (see above), for the enforcer's state watcher and the operator's watch.

    Parameters:
        initial_s: the ceiling of the first wait.
        max_s: no ceiling is higher.
        random: returns a number in [0, 1); injectable so tests can pin it.
    """

    initial_s: float = 1.0
    max_s: float = 30.0
    random: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, failures: int) -> float:
        """The wait after `failures` (>= 1) failures in a row."""
        ceiling = min(self.max_s, self.initial_s * 2.0 ** min(failures - 1, 62))
        return ceiling * (0.5 + 0.5 * self.random())
