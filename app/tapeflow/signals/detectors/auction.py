"""Unfinished auctions (both sides traded at a bar's extreme) and zero prints (untraded levels
inside a bar), each kept as a level until price comes back to it (``*_retest`` signals).

An unfinished high is expected to be revisited from below, so its signal is BUY; its retest
(price got back there) is SELL, the side of the level it hit. Mirror for the low. A zero print is
support (BUY) when the bar closed above it, resistance (SELL) when it closed below it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tapeflow.core.events import Side
from tapeflow.signals.api import BarView, Detector, TradeView, param
from tapeflow.signals.zones import Zone, ZoneTracker


@dataclass(frozen=True)
class AuctionParams:
    min_each_side: int = param(1, "contracts both bid and ask must trade at the extreme", min=1)
    retest: bool = param(True, "signal the first retest (kind unfinished_auction_retest)")
    max_zones: int = param(50, "levels kept at most (oldest dropped first)", min=1)


class _RetestMixin(Detector):
    tracker: ZoneTracker

    def on_trades(self, view: TradeView) -> None:
        for ev in self.tracker.scan(view.price_list if view.few else view.price):
            if ev.what == "retest" and self.params.retest:
                z = ev.zone
                self.emit(view, side=z.side, price=z.low, strength=z.strength, index=ev.index,
                          kind=f"{self.kind}_retest", level=z.low, zone_bar_start_ns=z.bar_start_ns,
                          trade_price=view.price_list[ev.index])

    def zones(self) -> list[Zone]:
        return self.tracker.zones()


class UnfinishedAuction(_RetestMixin):
    """A bar high (low) where both buyers and sellers traded: the auction did not finish there."""

    kind = "unfinished_auction"
    Params = AuctionParams
    summary = "bid and ask both traded at a bar's high or low; alert on retest"

    def __init__(self, params: AuctionParams | None = None) -> None:
        super().__init__(params)
        self.tracker = ZoneTracker(self.params.max_zones)

    def on_bar(self, view: BarView) -> None:
        cols = view.columns()
        bar = view.bar()
        need = self.params.min_each_side
        for j, where, side, zone_side in ((-1, "high", Side.BUY, Side.SELL), (0, "low", Side.SELL, Side.BUY)):
            bid, ask = cols["bid"][j], cols["ask"][j]
            if bid >= need and ask >= need:
                price = cols["price"][j]
                strength = float(min(bid, ask))
                zone = Zone(self.kind, zone_side, price, price, bar["start_ns"], view.ts_ns, strength=strength)
                self.tracker.add(zone, last_price=bar["close"], ends_on_retest=True)
                self.emit(view, side=side, price=price, strength=strength, extreme=where, bid=bid, ask=ask)


@dataclass(frozen=True)
class ZeroPrintParams:
    retest: bool = param(True, "signal the first retest (kind zero_print_retest)")
    max_zones: int = param(50, "levels kept at most (oldest dropped first)", min=1)


class ZeroPrint(_RetestMixin):
    """Prices inside a bar's range that never traded (price skipped them)."""

    kind = "zero_print"
    Params = ZeroPrintParams
    summary = "levels inside a bar with no volume; alert on retest"

    def __init__(self, params: ZeroPrintParams | None = None) -> None:
        super().__init__(params)
        self.tracker = ZoneTracker(self.params.max_zones)

    def on_bar(self, view: BarView) -> None:
        bar = view.bar()
        for price in view.untraded():
            side = Side.BUY if bar["close"] > price else Side.SELL
            zone = Zone(self.kind, side, price, price, bar["start_ns"], view.ts_ns, strength=1.0)
            self.tracker.add(zone, last_price=bar["close"], ends_on_retest=True)
            self.emit(view, side=side, price=price, strength=1.0, bar_low=bar["low"], bar_high=bar["high"])
