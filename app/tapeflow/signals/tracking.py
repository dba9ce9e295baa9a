"""Session figures the engine keeps for its detectors, updated slice by slice in event order.

``FlowState`` holds the same kind of figures, but as of the end of a batch; detectors need them
as of the bar close or the trade they look at, or live and backtest (different batch sizes)
would disagree. So the engine keeps its own developing profile, prior-session profile,
session cumulative delta and session VWAP here.
"""

from __future__ import annotations

import numpy as np

from tapeflow.flow.profile import ProfileSummary, VolumeProfile
from tapeflow.flow.vwap import SessionVwap
from tapeflow.signals.api import SessionLevels


class SessionTracker:
    """Developing and prior session profile, cumulative delta and VWAP (ticks, contracts)."""

    def __init__(self, value_area: float = 0.70) -> None:
        self.profile = VolumeProfile(value_area=value_area)
        self.prior: ProfileSummary | None = None
        self.session = -1  # last real session seen (profile)
        self.vwap = SessionVwap()
        self._cum = 0
        self._cum_session = -2
        self._summary: ProfileSummary | None = None
        self._dirty = True

    def update(self, price: np.ndarray, size: np.ndarray, side: np.ndarray,
               session: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Add one slice of trades of one session; returns per trade (cum delta, vwap, vwap sd)."""
        if len(price) == 0:
            z = np.zeros(0)
            return np.zeros(0, np.int64), z, z
        signed = size.astype(np.int64) * np.sign(side).astype(np.int64)
        carry = self._cum if session == self._cum_session else 0
        cum = np.cumsum(signed) + carry
        self._cum, self._cum_session = int(cum[-1]), session
        vwap, sd = self.vwap.update(price, size, np.full(len(price), session, np.int64))
        if session != -1 and session != self.session:
            if self.session != -1:
                summary = self.profile.summary()
                if summary is not None:
                    self.prior = summary
                self.profile.reset()
            self.session = session
        self.profile.add(_Columns(price, size, side))
        self._dirty = True
        return cum, vwap, sd

    def levels(self) -> SessionLevels:
        """Developing and prior profile summaries as of the last update."""
        if self._dirty:
            self._summary = self.profile.summary()
            self._dirty = False
        return SessionLevels(self._summary, self.prior)


class _Columns:
    """The three columns ``VolumeProfile.add`` reads from a ``TradeColumns``."""

    __slots__ = ("price", "side", "size")

    def __init__(self, price: np.ndarray, size: np.ndarray, side: np.ndarray) -> None:
        self.price, self.size, self.side = price, size, side

    def __len__(self) -> int:
        return len(self.price)
