"""A signal acts only after the whole exchange event its row belongs to (``Flag.LAST``).

One exchange event can reach us as many rows: a CSV line becomes its DOM rows and then its print,
a DBN packet several records, a Rithmic depth message several slots. The book is consistent only
after the event's last row (``Flag.LAST``), so an entry signalled on an earlier row of the event
must not meet the book half applied. ``tapeflow.pipeline.event_end`` is the one rule; the pipeline
holds a signal into the next batch when its event goes on there, so batch size cannot matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pytest
from backtest_scenario import ENTRY_RULES, ArraySource
from conftest import CSV_FILE, _need

from tapeflow.backtest.runner import run_backtest
from tapeflow.backtest.setup import rule_engine_factory
from tapeflow.backtest.standin import ScheduledEngine
from tapeflow.core.events import Flag, Kind, Side, concat, make_trades
from tapeflow.core.instruments import instrument
from tapeflow.feeds.csv_file import CsvTradesSource
from tapeflow.feeds.live_rithmic import translate_ticks
from tapeflow.feeds.open import open_source
from tapeflow.feeds.rithmic_depth import one_event
from tapeflow.feeds.scenarios import absorption
from tapeflow.feeds.simulator import MarketSimulator
from tapeflow.feeds.wire import batch_events, decode_server, encode, make_batch
from tapeflow.flow.state import FlowSettings
from tapeflow.pipeline import event_end
from tapeflow.signals.model import Action, Signal
from tapeflow.trading.settings import settings_from_dict
from tapeflow.trading.testing import et, levels, trades

T0 = et(date(2024, 7, 2), "10:00")
SECOND = 1_000_000_000
LAST = int(Flag.LAST)


# -- the rule ---------------------------------------------------------------------------------------


def test_a_signal_acts_after_the_next_last_row_at_or_after_its_own_row():
    ends = np.array([2, 5])  # rows 0-2 are one event, rows 3-5 the next, row 6 starts a third
    assert event_end(ends, 1, False) == 3  # fired on row 0: after row 2
    assert event_end(ends, 3, False) == 3  # fired on row 2, the event's last row: at once
    assert event_end(ends, 4, False) == 6
    assert event_end(ends, 7, False) is None  # row 6's event goes on in the next batch: hold


def test_a_signal_before_the_batch_acts_at_once_unless_that_event_goes_on_into_the_batch():
    ends = np.array([1])
    assert event_end(ends, 0, False) == 0
    assert event_end(ends, 0, True) == 2  # the previous batch ended mid-event: through row 1


# -- the adapters set Flag.LAST on the last row of each event ----------------------------------------


def test_csv_line_with_dom_ends_on_its_print_and_a_line_without_dom_is_one_row(tmp_path):
    path = tmp_path / "nq.csv"
    path.write_text(
        "timestamp,price,size,side,dom_bid,dom_ask\n"
        '2025-10-20 18:08:56.500,25314.0,1,BID,{"25313.75": 6},{"25314.25": 5, "25314.5": 3}\n'
        '2025-10-20 18:08:56.600,25314.25,2,ASK,{"25313.75": 6},{"25314.5": 3}\n'
        "2025-10-20 18:08:56.700,25314.5,1,ASK,,\n"
    )
    rows = concat(list(CsvTradesSource(path, symbol="NQ")))
    # line 2: bid 101255, asks 101257 and 101258, print; line 3: ask 101257 gone, print; line 4: print
    assert rows["kind"].tolist() == [2, 2, 2, 1, 2, 1, 1]
    assert rows["price"].tolist() == [101255, 101257, 101258, 101256, 101257, 101257, 101258]
    assert rows["flags"].tolist() == [0, 0, 0, LAST, 0, LAST, LAST]


def test_rithmic_ticks_are_one_event_each_and_a_bbo_ends_on_its_ask_row():
    es = instrument("ES")
    rows = translate_ticks([
        {"data_type": 1, "trade_price": 5000.25, "trade_size": 2, "aggressor": 1, "ssboe": 1_720_000_000},
        {"data_type": 2, "bid_price": 5000.0, "bid_size": 7, "ask_price": 5000.25, "ask_size": 4,
         "presence_bits": 3, "ssboe": 1_720_000_000},
    ], es)
    assert rows["kind"].tolist() == [int(Kind.TRADE), int(Kind.LEVEL), int(Kind.LEVEL)]
    assert rows["flags"].tolist() == [LAST, 0, LAST]


def test_a_rithmic_depth_message_is_one_event_and_keeps_its_snapshot_flag():
    snap = int(Flag.SNAPSHOT)
    rows = [(1, 1, 2, 1, 100, 5, 1, snap, 77, 0), (1, 1, 2, -1, 101, 4, 1, snap, 77, 0)]
    assert [r[7] for r in one_event(rows)] == [snap, snap | LAST]
    assert one_event([]) == []


def test_the_simulator_ends_its_snapshot_and_each_print_with_its_book_rows_on_a_last_row():
    rows = concat(list(MarketSimulator(seed=2, n_trades=200, batch_size=7)))
    last = np.flatnonzero(rows["flags"] & LAST)
    snapshot = np.flatnonzero(rows["flags"] & Flag.SNAPSHOT)
    assert last[0] == snapshot[-1] == 20  # CLEAR and the 20-level opening book: one event
    assert last[-1] == len(rows) - 1
    for a, b in zip(last[:-1] + 1, last[1:] + 1, strict=True):  # each event: one aggressive order at
        assert len(set(rows["ts_event"][a:b].tolist())) == 1  # one time, its prints (one per level it
        assert rows["kind"][a] == Kind.TRADE  # sweeps) each followed by the book rows it changed
        assert rows["kind"][b - 1] == Kind.LEVEL


def test_the_absorption_scenario_ends_the_opening_book_and_each_print_with_its_book_rows():
    ev, _ = absorption()
    last = np.flatnonzero(ev["flags"] & LAST).tolist()
    # rows: bid 22000 x 60, ask 22001 x 40 | print, bid 55 | print, bid 50 | ... print 10, bid 10, refresh 60 | ...
    assert last[:4] == [1, 3, 5, 7]
    assert last[9:11] == [19, 22]  # print 9 (rows 18-19); print 10, its bid and its refresh (rows 20-22)
    assert last[-1] == len(ev) - 1 and len(last) == 1 + 60 + 16  # the book, 60 sells, 16 buys


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_the_websocket_wire_carries_the_event_ends(encoding):
    rows = concat([levels(T0, [(1, 0, 19999, 5), (-1, 0, 20001, 5)]), trades(T0, [(20000, 1, -1)])])
    rows["flags"] = [0, 0, LAST]
    frame = encode(make_batch(rows, seq=1, sent_ns=T0, first_event=0, encoding=encoding), encoding)
    assert batch_events(decode_server(frame))["flags"].tolist() == [0, 0, LAST]


def test_make_trades_makes_every_print_its_own_event():
    t = make_trades([1, 2], [10, 11], [1, 1], [1, -1])
    assert t["flags"].tolist() == [LAST, LAST]


# -- the pipeline: an entry meets the book at the end of its event ----------------------------------


def _event_tape() -> np.ndarray:
    """Ask 20001 x 5 over bid 19999 x 5 and a print at 20000 (10:00:00); then, at 10:00:05, one
    event shaped like a CSV line: its book rows show 20002 x 5 and take the 20001 ask away, then
    its print (a seller at 20000) ends it (the only LAST row); then a buyer prints 20002."""
    book = levels(T0, [(1, 0, 19999, 5), (-1, 0, 20001, 5)])
    line = concat([levels(T0 + 5 * SECOND, [(-1, 1, 20002, 5), (-1, 0, 20001, 0)]),
                   trades(T0 + 5 * SECOND, [(20000, 1, -1)])])
    return concat([book, trades(T0, [(20000, 1, -1)]), line, trades(T0 + 6 * SECOND, [(20002, 1, 1)])])


@dataclass
class _LongAtFirstBarClose(ScheduledEngine):
    """Goes long when the first 5 s bar closes, at the first row at or after 10:00:05, handed out
    on the clock (as the rule engine's bar rules are, live-sized batches) or with the batch; the
    signal's row is that row (``Signal.event_seq``)."""

    rows_seen: int = 0
    fired: bool = False

    def on_update(self, state, update, batch):
        at = int(np.searchsorted(batch["ts_event"], T0 + 5 * SECOND))
        out = self._fire(self.rows_seen + at) if at < len(batch) else []
        self.rows_seen += len(batch)
        return out

    def on_clock(self, state, update, ts_ns):
        return self._fire(self.rows_seen) if ts_ns >= T0 + 5 * SECOND else []

    def _fire(self, row: int) -> list[Signal]:
        if self.fired:
            return []
        self.fired = True
        return [Signal(ts_ns=T0 + 5 * SECOND, instrument="ES", kind="standin", side=Side.BUY, price=20000,
                       strength=1.0, bar_start_ns=T0, rule="bar close", action=Action.ENTER_LONG, stop_ticks=40,
                       event_seq=row)]


@pytest.mark.parametrize("batch", [1, 2, 3, 4, 5, 64])
def test_a_bar_close_entry_takes_the_ask_its_closing_event_leaves(batch):
    """5 s bars: the 10:00:05 event (rows 3-5) closes the first bar at its first row, and the bar's
    long acts on it, no latency. That event removes the 20001 ask (rows 3-4), so the market buy
    fills at 20002 (it once took 20001, after row 3 alone), whatever the batch size: 1- to 4-row
    batches end inside the event and the signal is held into the next batch."""
    settings = settings_from_dict({"paper": {"latency_ms": 0}}, "test")
    r = run_backtest([ArraySource(_event_tape(), batch, "es", "ES")], lambda inst: _LongAtFirstBarClose(inst, {}),
                     settings, flow_settings=FlowSettings(bar="5s"))
    assert [s.signal.event_seq for s in r.signals] == [3]
    assert [(f.price, f.ts_ns - T0) for f in r.fills] == [(20002, 5 * SECOND)]


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_a_signal_in_an_event_the_file_never_ends_acts_after_the_files_last_row(batch):
    """Prints at 20000, 20001, 20002; the last two are one event the file cuts off (no LAST row).
    The long signalled on print 2 is held to the end of that event, then acted on when the file
    ends: its order is sent at the last row's time (10:00:02, not 10:00:01) and takes the last price
    of a tape without a book."""
    tape = make_trades(T0 + np.arange(3) * SECOND, [20000, 20001, 20002], [1, 1, 1], [1, 1, 1], instrument_id=1)
    tape["flags"][1:] = 0
    r = run_backtest([ArraySource(tape, batch, "es", "ES")],
                     lambda inst: ScheduledEngine(inst, {2: "long"}), settings_from_dict({}, "test"))
    assert [(s.signal.ts_ns - T0, s.decision) for s in r.signals] == [(SECOND, "order 1")]
    assert [o.ts_created - T0 for o in r.orders.values()][:1] == [2 * SECOND]
    assert [(f.price, f.ts_ns - T0) for f in r.fills] == [(20002, 2 * SECOND)]


def test_nq_csv_bar_close_entry_takes_the_ask_the_closing_line_leaves(tmp_path):
    """The recorded NQ tape (CSV with a 30-level DOM), 1-minute bars: the 18:10:00.318 line (local
    time) closes the 18:09 bar, and the bar's long entry acts on it. That line's DOM rows remove the
    asks 101246 and 101247 and leave 101248 x 4 best, then its print (a seller at 101243) ends it.
    The entry once filled at 101246, on the book before the line; it fills at 101248."""
    nq = concat(list(open_source(str(_need(CSV_FILE)), symbol="NQ", tz="Europe/Madrid")))
    line = np.flatnonzero(nq["ts_event"] == 1760976600318000000)
    assert nq["flags"][line].tolist() == [0] * (len(line) - 1) + [LAST]
    rules = tmp_path / "rules.toml"
    rules.write_text(ENTRY_RULES)
    settings = settings_from_dict({"paper": {"commission_usd": 0.59, "exchange_fee_usd": 1.38}}, "test")
    for batch in (1, 7, 65_536):
        r = run_backtest([ArraySource(nq, batch, "nq", "NQ")], rule_engine_factory(str(rules)), settings,
                         flow_settings=FlowSettings(bar="1m"))
        entry = r.fills[0]
        assert (entry.ts_ns, int(entry.side), entry.price) == (1760976600318000000, 1, 101248)


class _Frames:
    """A websocket stand-in for :class:`WebsocketConnection`: hands out the frames given."""

    def __init__(self, frames: list) -> None:
        self.frames = frames

    async def recv(self):
        return self.frames.pop(0)


def _ws_rows(batches: list[np.ndarray]) -> list[list[int]]:
    import asyncio

    from tapeflow.feeds.ws_feed import WebsocketConnection

    frames = [encode(make_batch(b, seq=i + 1, sent_ns=T0, first_event=0, encoding="msgpack"), "msgpack")
              for i, b in enumerate(batches)]
    conn = WebsocketConnection(_Frames(frames), "ws://test", 1 << 20)  # type: ignore[arg-type]

    async def read() -> list[list[int]]:
        return [(await conn.recv()).events["flags"].tolist() for _ in batches]

    return asyncio.run(read())


def test_a_bridge_that_never_marks_event_ends_has_each_row_taken_as_its_own_event():
    book = levels(T0, [(1, 0, 19999, 5), (-1, 0, 20001, 5)])
    print_ = trades(T0, [(20000, 1, -1)])
    unmarked = concat([book, print_])
    unmarked["flags"] = 0
    # no mark yet and no print: left as sent; a print and no mark: every row ends its event
    assert _ws_rows([book.copy(), unmarked.copy()]) == [[0, 0], [LAST, LAST, LAST]]


def test_a_source_that_marks_event_ends_keeps_its_marks_even_on_a_batch_cut_mid_event():
    first = concat([levels(T0, [(1, 0, 19999, 5)]), trades(T0, [(20000, 1, -1)])])
    first["flags"] = [0, LAST]
    cut = concat([trades(T0, [(20000, 1, -1)]), levels(T0, [(1, 0, 19999, 4)])])
    cut["flags"] = 0  # its event ends in the next batch
    assert _ws_rows([first, cut]) == [[0, LAST], [0, 0]]
