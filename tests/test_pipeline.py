"""The pipeline runs flow, trading and signals in a fixed order, the same for any batch size."""

from __future__ import annotations

import numpy as np

from tapeflow.core.events import Flag, Kind, Side, make_trades
from tapeflow.core.instruments import instrument
from tapeflow.core.timeutil import iso_to_ns
from tapeflow.feeds.simulator import MarketSimulator
from tapeflow.flow.state import FlowState, FlowUpdate
from tapeflow.pipeline import Pipeline
from tapeflow.signals.model import Action, Signal
from tapeflow.trading.account import Account

T0 = iso_to_ns("2024-07-02T14:00:00Z")  # 10:00 ET


class EveryNthTrade:
    """A stand-in rule engine: one long entry signal at every 50th trade."""

    def __init__(self) -> None:
        self.seen = 0

    def on_update(self, state: FlowState, update: FlowUpdate, batch: np.ndarray) -> list[Signal]:
        out = []
        for row in batch[batch["kind"] == Kind.TRADE]:
            self.seen += 1
            if self.seen % 50 == 0:
                out.append(
                    Signal(
                        ts_ns=int(row["ts_event"]), instrument="ES", kind="test", side=Side.BUY,
                        price=int(row["price"]), strength=1.0, bar_start_ns=0, rule="every50",
                        action=Action.ENTER_LONG, stop_ticks=8, target_ticks=8, trade_seq=self.seen - 1,
                    )
                )
        return out


def test_entry_signals_reach_the_auto_trader_and_fill_at_the_touch_of_their_time():
    pipe = Pipeline(instrument("ES"), engine=EveryNthTrade(), account=Account())
    ev = make_trades(T0 + np.arange(50), [22000] * 50, [1] * 50, [1] * 50)
    fired = pipe.process(ev)
    assert len(fired) == 1 and len(pipe.decisions) == 1
    _, decision = pipe.decisions[0]
    assert decision.acted, decision.reason
    (pos,) = pipe.account.snapshot().positions
    # The market entry fills at the last print the signal saw (no book rows here), not a later one.
    assert pos.qty == 1 and pos.avg_price_ticks == 22000
    pipe.process(make_trades([T0 + 100], [22001], [1], [1]))
    (pos,) = pipe.account.snapshot().positions
    assert pos.unrealized_cents == 1250  # marked one tick higher: 1 ES tick = $12.50


def test_a_live_feeds_entry_hold_reaches_the_auto_trader():
    asked: list[Signal] = []

    def hold(sig: Signal) -> str | None:
        asked.append(sig)
        return "feed stale: automatic entries hold"

    pipe = Pipeline(instrument("ES"), engine=EveryNthTrade(), account=Account(), entry_hold=hold)
    fired = pipe.process(make_trades(T0 + np.arange(50), [22000] * 50, [1] * 50, [1] * 50))
    assert asked == fired and len(fired) == 1
    ((_, decision),) = pipe.decisions
    assert not decision.acted and decision.reason == "feed stale: automatic entries hold"
    assert pipe.account.snapshot().positions == ()


def test_flow_results_do_not_depend_on_batch_size():
    events = np.concatenate(list(MarketSimulator(seed=5, n_trades=5_000)))
    a = Pipeline(instrument("ES"))
    b = Pipeline(instrument("ES"))
    a.run([events])
    b.run(events[i : i + 77] for i in range(0, len(events), 77))
    assert a.flow.bars().same_as(b.flow.bars())
    assert a.snapshot().flow.last_price == b.snapshot().flow.last_price


def test_fills_do_not_depend_on_how_the_feed_cut_its_batches():
    """Each signal reaches the broker at its own place in the tape, whatever the batch size."""
    events = np.concatenate(list(MarketSimulator(seed=9, n_trades=3_000)))

    def run(step: int) -> list[tuple]:
        acct = Account()
        fills: list[tuple] = []
        acct.subscribe(lambda e: e.fill is not None and fills.append((e.fill.order_id, e.fill.ts_ns, e.fill.price)))
        Pipeline(instrument("ES"), engine=EveryNthTrade(), account=acct).run(
            events[i : i + step] for i in range(0, len(events), step)
        )
        return fills

    whole = run(len(events))
    assert whole, "the stand-in engine should have traded"
    assert run(1) == whole
    assert run(97) == whole


def test_fills_match_when_a_batch_boundary_splits_prints_of_one_timestamp():
    """A sweep prints several trades with one exchange time; cutting a batch inside it must not
    change what the broker had seen when the signal fired."""
    t = T0 + 10**9
    prices = [22000 + k for k in range(53)]
    ts = [T0 + k for k in range(45)] + [t] * 8  # trades 46..53 are one sweep at one exchange time
    ev = make_trades(ts, prices, [1] * 53, [1] * 53)
    # EveryNthTrade fires at the 50th trade (22049), inside the sweep: the entry fills at the last
    # print the signal had seen, 22049, not at the end of the sweep (22052).
    results = []
    for cut in (len(ev), 50, 51, 52):
        acct = Account()
        fills: list[int] = []
        acct.subscribe(lambda e, f=fills: e.fill is not None and f.append(e.fill.price))
        pipe = Pipeline(instrument("ES"), engine=EveryNthTrade(), account=acct)
        pipe.process(ev[:cut])
        if cut < len(ev):
            pipe.process(ev[cut:])
        results.append(fills)
    assert results[0] == [22049] and all(r == results[0] for r in results)


def _bar_close_entries() -> list:
    """The default rules plus entries on two bar-close detectors (long on diagonal imbalances, short on
    POC rejections), so the auto-trader acts at bar closes."""
    from tapeflow.signals.detectors.imbalance import ImbalanceParams
    from tapeflow.signals.detectors.poc import PocRejectionParams
    from tapeflow.signals.rules import Rule, default_rules

    bracket = {"stop_ticks": 6, "target_ticks": 6}
    return [*default_rules(),
            Rule("diag_entry", "diagonal_imbalance", ImbalanceParams(), Action.ENTER_LONG, **bracket),
            Rule("poc_entry", "poc_rejection", PocRejectionParams(), Action.ENTER_SHORT, **bracket)]


def test_bar_close_signals_leave_before_the_closing_event_is_booked_with_the_same_fills():
    """Streaming one row at a time, a signal reaches listeners and the auto-trader as soon as the
    row that ends the exchange event that made it (``Flag.LAST``) is seen, before the flow state
    books that row (a bar's close before its closing event, a trade's signals before the trade when
    the trade ends its event); signals, decisions and fills are those of the whole file in one batch."""
    from tapeflow.signals.engine import RuleEngine

    events = np.concatenate(list(MarketSimulator(seed=9, n_trades=12_000)))

    def run(step: int) -> tuple[list, list, list, list]:
        acct = Account()
        fills: list[tuple] = []
        acct.subscribe(lambda e: e.fill is not None and fills.append((e.fill.order_id, e.fill.ts_ns, e.fill.price)))
        shown: list[int] = []  # rows the broker was shown, batch by batch: each row exactly once
        feed = acct.on_events
        acct.on_events = lambda rows: (shown.append(len(rows)), feed(rows))[1]
        pipe = Pipeline(instrument("ES"), engine=RuleEngine(_bar_close_entries(), "ES"), account=acct)
        seen_at: list[tuple[int, int]] = []  # (row that made it fire, rows the flow had booked) per signal
        trade_row = np.flatnonzero(events["kind"] == Kind.TRADE)

        def handed(s) -> None:  # every built-in signal comes from a bar close or a trade
            row = s.event_seq if s.event_seq is not None else trade_row[s.trade_seq]
            seen_at.append((int(row), pipe.flow.events_seen))

        pipe.on_signal(handed)
        out = pipe.run(events[i : i + step] for i in range(0, len(events), step))
        assert sum(shown) == len(events)
        return out, [(s.rule, d.acted, d.reason) for s, d in pipe.decisions], fills, seen_at

    whole, whole_decisions, whole_fills, _ = run(len(events))
    out, decisions, fills, seen_at = run(1)
    assert out == whole and decisions == whole_decisions and fills == whole_fills
    assert any(acted for _, acted, _ in whole_decisions) and whole_fills
    ends = np.flatnonzero(events["flags"] & Flag.LAST)
    event_end = [int(ends[np.searchsorted(ends, row)]) for row, _ in seen_at]
    assert any(end > row for end, (row, _) in zip(event_end, seen_at, strict=True))  # some wait for their event
    assert len(seen_at) == len(out) and [b for _, b in seen_at] == event_end  # the event's last row not booked yet
