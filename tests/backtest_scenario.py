"""A hand-made ES tape with three known trades, shared by the backtest tests.

Prints one second apart from 10:00:00 ET; the stand-in engine enters at prints 1 (long),
4 (short) and 7 (long) with a 4-tick stop and an 8-tick target:

- trade 1: long 20000 -> target 20008 fills on a buyer lifting 20008 (empty queue): +8 ticks
- trade 2: short 20008 -> stop 20012 triggers on the print at 20012, fills there: -4 ticks
- trade 3: long 20012 -> target 20020 fills when 20021 trades through it: +8 ticks
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tapeflow.core.events import make_trades
from tapeflow.core.instruments import instrument
from tapeflow.core.timeutil import iso_to_ns
from tapeflow.feeds.base import FeedInfo, FeedStats
from tapeflow.trading.settings import PaperSettings, TradingSettings

T0 = iso_to_ns("2024-07-02T14:00:00Z")  # 10:00 ET, a Tuesday
SECOND = 1_000_000_000
PRICES = [20000, 20004, 20008, 20008, 20010, 20012, 20012, 20016, 20021, 20021]
SCHEDULE = {1: "long", 4: "short", 7: "long"}
COSTS = TradingSettings(paper=PaperSettings(commission_cents=59, exchange_fee_cents=138))  # $1.97 a side


def tape() -> np.ndarray:
    n = len(PRICES)
    return make_trades(T0 + SECOND * np.arange(n), PRICES, [1] * n, [1] * n, instrument_id=118)


class ArraySource:
    """An ``EventSource`` over an array, one batch per ``batch`` rows (the file adapters' shape)."""

    def __init__(self, events: np.ndarray, batch: int = 4, name: str = "scenario", root: str = "ES") -> None:
        self.events = events
        self.batch = batch
        self.info = FeedInfo(source=name, schema="trades", instrument=instrument(root))
        self.stats = FeedStats()

    def __iter__(self) -> Iterator[np.ndarray]:
        self.stats = FeedStats()
        for i in range(0, len(self.events), self.batch):
            b = self.events[i : i + self.batch].copy()
            self.stats.count_batch(b)
            yield b


def write_csv(path: Path) -> Path:
    """The tape as a time-and-sales CSV file (what ``tapeflow backtest`` reads)."""
    lines = ["timestamp,price,size,side"]
    for i, p in enumerate(PRICES):
        lines.append(f"{T0 + i * SECOND},{p * 0.25:.2f},1,BUY")
    path.write_text("\n".join(lines) + "\n")
    return path


ENTRY_RULES = """
[[rule]]
name = "imbalance long"
detector = "diagonal_imbalance"
action = "enter_long"
stop_ticks = 2
target_ticks = 2
[rule.params]
min_volume = 3

[[rule]]
name = "imbalance short"
detector = "diagonal_imbalance"
action = "enter_short"
stop_ticks = 2
target_ticks = 2
[rule.params]
min_volume = 3
"""
"""Rules that enter on diagonal imbalances both ways (tight stops): trades on any simulated tape."""
