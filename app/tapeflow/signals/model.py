"""The ``Signal`` record: what a rule saw, and what it asks for.

Shared by the rule engine (producer), the UI highlights, the journal and the auto-trader
(consumers). It carries the inputs that made it fire so a trader can audit every alert.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from tapeflow.core.events import Side


class Action(StrEnum):
    """What a rule does when it fires."""

    ALERT = "alert"
    HIGHLIGHT = "highlight"
    ENTER_LONG = "enter_long"
    ENTER_SHORT = "enter_short"


class Signal(msgspec.Struct, frozen=True, kw_only=True):
    """One fired rule. Prices in ticks, times in UTC ns."""

    ts_ns: int  # event time at which the rule fired
    instrument: str  # root or contract code, e.g. "ES" or "ESU4"
    kind: str  # detector name, e.g. "stacked_imbalance"
    side: Side  # BUY = bullish / long, SELL = bearish / short, NONE = neutral
    price: int  # ticks: the level the signal refers to
    strength: float  # detector-specific, larger = stronger (e.g. imbalance ratio)
    bar_start_ns: int  # start of the footprint bar it refers to
    rule: str  # name of the rule that fired
    action: Action = Action.ALERT
    inputs: dict[str, float | int | str] = msgspec.field(default_factory=dict)
    qty: int = 1  # contracts, for entry actions
    stop_ticks: int | None = None  # bracket stop distance, for entry actions
    target_ticks: int | None = None  # bracket target distance, for entry actions
    trade_seq: int | None = None
    """0-based number (in the run) of the trade whose arrival made the rule fire. The pipeline hands
    the signal to the broker right after that trade, so fills never depend on how the feed cut its
    batches; without it or ``event_seq`` (book-driven signals, some plugins) the signal's time is used."""
    event_seq: int | None = None
    """Bar-close signals: 0-based number (in the run) of the event, of any kind, that closed the bar
    (a time bar closes when the feed's clock reaches its end, often on a book row); the pipeline
    hands the signal to the broker right after it."""

    @property
    def is_entry(self) -> bool:
        return self.action in (Action.ENTER_LONG, Action.ENTER_SHORT)
