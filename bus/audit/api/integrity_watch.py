"""The integrity status the API serves: the latest verification, reused for a while.

Verifying a large store takes long (it reads every record), so the API does not verify on every
request: a result younger than `max_age` is served as it is (with when it was made), and
requests arriving while a verification runs wait for that one instead of starting their own.
`fresh` forces a new verification; `bus audit serve` also refreshes it in the background.
Given a `witness` reader, each verification checks the store against the witness topic too
(`bus audit serve` does), as `bus audit verify` does.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bus.audit.store import AuditStore
from bus.audit.verify import IntegrityReport, verify_store, verify_witnessed
from bus.audit.witness import Witness
from bus.keys.keystore import AgencyPublicKey


@dataclass(frozen=True, slots=True)
class Verified:
    """One verification's report, when it began and its number (they count up as they begin)."""

    report: IntegrityReport
    at: datetime  # when this verification began
    number: int  # verifications are numbered as they begin


class IntegrityWatch:
    """Serves the store's integrity status (see above); thread-safe.

    Parameters:
        store: the audit store to verify.
        public_key: the pinned audit key the checkpoints must verify with.
        clock: the current time.
        max_age: a verification younger than this is served again.
        witness: reads the witness topic, if the store is to be checked against it too.
    """

    def __init__(
        self,
        store: AuditStore,
        public_key: AgencyPublicKey,
        clock: Callable[[], datetime],
        max_age: timedelta = timedelta(minutes=5),
        witness: Callable[[], Witness] | None = None,
    ) -> None:
        self._store, self._public_key, self._clock = store, public_key, clock
        self._witness = witness
        self.max_age = max_age
        self._latest: Verified | None = None
        self._begun = 0
        self._verifying = threading.Lock()

    def status(self, fresh: bool = False) -> Verified:
        """The latest verification if it is recent enough (and not `fresh`), else a new one;
        one that began after this call is always good enough."""
        asked_at, begun_before = self._clock(), self._begun
        usable = self._usable(asked_at, begun_before, fresh)
        if usable is not None:
            return usable
        with self._verifying:
            usable = self._usable(asked_at, begun_before, fresh)
            if usable is not None:
                return usable
            self._begun += 1
            number, began = self._begun, self._clock()
            self._latest = Verified(self._verify(), began, number)
            return self._latest

    def _verify(self) -> IntegrityReport:
        if self._witness is None:
            return verify_store(self._store, self._public_key)
        return verify_witnessed(self._store, self._public_key, self._witness)

    def _usable(self, asked_at: datetime, begun_before: int, fresh: bool) -> Verified | None:
        latest = self._latest
        if latest is None:
            return None
        if latest.number > begun_before:
            return latest
        return latest if not fresh and asked_at - latest.at < self.max_age else None
