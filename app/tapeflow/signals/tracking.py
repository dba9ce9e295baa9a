"""Session figures the engine keeps for its detectors, updated slice by slice in event order.

``FlowState`` holds the same kind of figures, but as of the end of a batch; detectors need them
as of the bar close or the trade they look at, or live and backtest (different batch sizes)
would disagree. So the engine keeps its own developing profile, prior-session profile,
session cumulative delta and session VWAP here.
"""

from __future__ import annotations

import math

import numpy as np

from tapeflow.flow.profile import ProfileSummary, VolumeProfile
from tapeflow.flow.value_area import DEFAULT_VALUE_AREA_METHOD, poc_index
from tapeflow.signals.api import Column, LevelsSource, SessionLevels


class SessionTracker:
    """Developing and prior session profile, cumulative delta and VWAP (ticks, contracts)."""

    def __init__(self, value_area: float = 0.70, value_area_method: str = DEFAULT_VALUE_AREA_METHOD) -> None:
        self.profile = VolumeProfile(value_area=value_area, value_area_method=value_area_method)
        self.prior: ProfileSummary | None = None
        self.session = -1  # last real session seen (profile)
        self.vwap = _SliceVwap()
        self._cum = 0
        self._cum_session = -2
        self._summary: ProfileSummary | None = None
        self._poc = _RunningPoc()  # the developing POC, kept up trade by trade (read at every bar close)
        self._sharing: list[FrozenLevels] = []  # frozen levels still reading ``profile`` itself
        self._dirty = True

    def update(self, price: Column, size: Column, side: Column, session: int) -> tuple[Column, Column, Column, Column]:
        """Add one slice of trades of one session; returns per trade (signed size, cum delta, vwap, vwap sd).

        Python lists in (a live slice of a few trades): lists out, with no numpy call; arrays in:
        arrays out. Both give the same integers and the same float64 values."""
        if len(price) == 0:
            z = np.zeros(0)
            return np.zeros(0, np.int64), np.zeros(0, np.int64), z, z
        carry = self._cum if session == self._cum_session else 0
        few = type(price) is list
        if few:
            signed, cum, vwap, sd = self._few(price, size, side, carry, session)
        else:
            signed = size.astype(np.int64) * np.sign(side).astype(np.int64)
            cum = np.cumsum(signed) + carry
            vwap, sd = self.vwap.update(price, size, session)
        self._cum, self._cum_session = int(cum[-1]), session
        if session != -1 and session != self.session:
            if self.session != -1:
                summary = self.profile.summary()
                if summary is not None:
                    self.prior = summary
                self._detach()
                self.profile.reset()
                self._poc = _RunningPoc()
            self.session = session
        self._add(price, size, side, few)
        self._dirty = True
        return signed, cum, vwap, sd

    def _few(self, price: list[int], size: list[int], side: list[int], carry: int,
             session: int) -> tuple[list[int], list[int], list[float], list[float]]:
        """``update``'s figures for a few trades with Python ints and floats: the same integer sums and
        IEEE steps as the numpy path (int -> float64, divide, subtract, sqrt), so bit-identical."""
        vw = self.vwap
        if session != vw.session:
            vw.session, vw._v, vw._pv, vw._p2v = session, 0, 0, 0
        v, pv, p2v, c = vw._v, vw._pv, vw._p2v, carry
        signed, cum, vwap, sd = [], [], [], []
        for p, q, d in zip(price, size, side, strict=True):
            x = q if d > 0 else -q if d < 0 else 0
            c += x
            v += q
            pv += p * q
            p2v += p * p * q
            safe = float(max(v, 1))
            w = pv / safe
            var = p2v / safe - w * w
            signed.append(x)
            cum.append(c)
            vwap.append(w)
            sd.append(math.sqrt(var) if var > 0.0 else 0.0)
        vw._v, vw._pv, vw._p2v = v, pv, p2v
        return signed, cum, vwap, sd

    def _detach(self) -> None:
        """Copy on write: before ``profile`` changes, the frozen levels still reading it get one
        shared copy. Done on the next update rather than at the bar close (the signal's path)."""
        if self._sharing:
            snap = self.profile.copy()
            for frozen in self._sharing:
                frozen.detach(snap)
            self._sharing.clear()

    def _add(self, price: Column, size: Column, side: Column, few: bool) -> None:
        """``profile.add``, trade by trade for a few trades (lists: live batches), keeping the running POC."""
        self._detach()
        prof = self.profile
        if few:
            add, traded = prof.add_one, self._poc.traded
            for p, s, sd in zip(price, size, side, strict=True):
                add(p, s, sd)
                i = p - prof.base
                traded(p, int(prof.bid[i]) + int(prof.ask[i]) + int(prof.unknown[i]))
            return
        prof.add(_Columns(price, size, side))
        self._poc.rescan(prof)
    def levels(self) -> SessionLevels:
        """Developing and prior profile summaries as of the last update."""
        if self._dirty:
            self._summary = self.profile.summary()
            self._dirty = False
        return SessionLevels(self._summary, self.prior)

    def frozen_levels(self, *, own_copy: bool = False) -> FrozenLevels:
        """The levels as of now, kept valid after later updates (a bar close hands this to detectors).

        By default they share the profile until the next update copies it; ``own_copy`` copies it
        now (a close prepared while the feed is idle, which may be dropped if a trade comes first)."""
        if not self._dirty:
            return FrozenLevels(None, self.prior, SessionLevels(self._summary, self.prior))
        if own_copy:
            return FrozenLevels(self.profile.copy(), self.prior, None, self._poc.poc())
        frozen = FrozenLevels(self.profile, self.prior, None, self._poc.poc())
        self._sharing.append(frozen)
        return frozen


class FrozenLevels(LevelsSource):
    """Session levels at one instant, from a copy of the developing profile.

    Nothing is summarized until asked, and ``poc()``/``hvn()`` compute only that figure (a POC
    detector that needs the POC at the previous close only on a volume decline pays for it then).
    """

    def __init__(self, profile: VolumeProfile | None, prior: ProfileSummary | None,
                 value: SessionLevels | None, poc: int | None = None) -> None:
        self._profile, self._prior, self._value, self._poc = profile, prior, value, poc
        self._hvn: tuple[int, ...] | None = None  # computed once, on first use (or on idle)

    def get(self) -> SessionLevels:
        if self._value is None:
            self._value = SessionLevels(self._profile.summary(), self._prior)
        return self._value

    def detach(self, copy: VolumeProfile) -> None:
        """Read ``copy`` from now on: the tracker is about to change the profile shared so far."""
        self._profile = copy

    @property
    def prior(self) -> ProfileSummary | None:
        return self._prior

    def poc(self) -> int | None:
        if self._value is not None:
            return super().poc()
        if self._poc is not None:
            return self._poc
        vol = self._profile.volume
        if len(vol) == 0 or vol.sum() == 0:
            return None
        nz = np.flatnonzero(vol)
        lo_i, hi_i = int(nz[0]), int(nz[-1])
        return self._profile.base + lo_i + poc_index(vol[lo_i : hi_i + 1])

    def hvn(self) -> tuple[int, ...]:
        if self._value is not None:
            return super().hvn()
        if self._hvn is None:
            vol = self._profile.volume
            empty = len(vol) == 0 or vol.sum() == 0
            self._hvn = () if empty else tuple(int(x) for x in self._profile.nodes()[0])
        return self._hvn


class _RunningPoc:
    """The developing POC of a session profile, kept up as trades arrive: volume per price only
    grows within a session, so the prices at the highest volume are all the candidates there are;
    the tie rule of :func:`tapeflow.flow.value_area.poc_index` (nearest the middle of the traded
    range, then lower) picks among them when asked."""

    def __init__(self) -> None:
        self.best = 0
        self.tied: list[int] = []  # prices holding ``best`` contracts
        self.low: int | None = None
        self.high: int | None = None

    def traded(self, price: int, volume: int) -> None:
        """``price`` now holds ``volume`` contracts in all."""
        if self.low is None:
            self.low = self.high = price
        elif price < self.low:
            self.low = price
        elif price > self.high:
            self.high = price
        if volume > self.best:
            self.best, self.tied = volume, [price]
        elif volume == self.best and price not in self.tied:
            self.tied.append(price)

    def rescan(self, profile: VolumeProfile) -> None:
        """Start over from a whole profile (after a vectorized add)."""
        vol = profile.volume
        traded = np.flatnonzero(vol)
        if len(traded) == 0:
            self.__init__()
            return
        self.best = int(vol[traded].max())
        self.tied = (np.flatnonzero(vol == self.best) + profile.base).tolist()
        self.low, self.high = profile.base + int(traded[0]), profile.base + int(traded[-1])

    def poc(self) -> int | None:
        if not self.tied:
            return None
        lo, mid2 = self.low, self.high - self.low
        return min(self.tied, key=lambda p: (abs(2 * (p - lo) - mid2) * 2 + (2 * (p - lo) > mid2), p))


class _SliceVwap:
    """``flow.vwap.SessionVwap`` for slices of one session: same integer sums and float steps, so
    bit-identical values, without the per-trade session segmentation."""

    def __init__(self) -> None:
        self.session = -2
        self._v = self._pv = self._p2v = 0  # contracts, ticks x contracts, ticks^2 x contracts

    def update(self, price: np.ndarray, size: np.ndarray, session: int) -> tuple[np.ndarray, np.ndarray]:
        if session != self.session:
            self.session, self._v, self._pv, self._p2v = session, 0, 0, 0
        p = price.astype(np.int64)
        s = size.astype(np.int64)
        ps = p * s
        v = np.cumsum(s, dtype=np.int64) + self._v
        pv = np.cumsum(ps, dtype=np.int64) + self._pv
        p2v = np.cumsum(p * ps, dtype=np.int64) + self._p2v
        self._v, self._pv, self._p2v = int(v[-1]), int(pv[-1]), int(p2v[-1])
        safe = np.maximum(v, 1).astype(np.float64)
        vwap = pv / safe
        var = np.maximum(p2v / safe - vwap * vwap, 0.0)
        return vwap, np.sqrt(var)


class _Columns:
    """The three columns ``VolumeProfile.add`` reads from a ``TradeColumns``."""

    __slots__ = ("price", "side", "size")

    def __init__(self, price: np.ndarray, size: np.ndarray, side: np.ndarray) -> None:
        self.price, self.size, self.side = price, size, side

    def __len__(self) -> int:
        return len(self.price)
