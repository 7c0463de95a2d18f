"""Which raised alerts are sent.

A rule raises its alert on every record past its threshold; sending each would flood the alerts
topic during a bulk pull. The gate sends an alert the first time this process sees its key, and
again when its level has doubled since (fresh figures). It lives in memory on purpose: after a
restart it is empty, so the first record past the threshold sends the alert again. That is what
makes a crash unable to lose an alert: records not yet committed are read again, their counts
only grow (the tables were restored at least as far), so each reaches the threshold again and is
sent; the copy replaces the first on the compacted topic (same key)."""

from collections import OrderedDict

from bus.watch.rules import Raised

MAX_REMEMBERED = 100_000  # keys; the oldest forgotten first (sending one again is harmless)


class AlertGate:
    """The send decision for raised alerts (see the module's docstring)."""

    def __init__(self, max_remembered: int = MAX_REMEMBERED) -> None:
        self._sent: OrderedDict[str, int] = OrderedDict()
        self._max = max_remembered

    def wants(self, raised: Raised) -> bool:
        """Whether `raised` is to be sent now."""
        sent_at = self._sent.get(raised.key)
        return sent_at is None or raised.level >= 2 * sent_at

    def sent(self, raised: Raised) -> None:
        """Remember that `raised` was sent (only once it was: a failed send is not remembered)."""
        self._sent[raised.key] = max(raised.level, 1)
        self._sent.move_to_end(raised.key)
        while len(self._sent) > self._max:
            self._sent.popitem(last=False)

    def admit(self, raised: Raised) -> bool:
        """`wants`, and if so `sent` (for callers whose send cannot fail halfway)."""
        if not self.wants(raised):
            return False
        self.sent(raised)
        return True
