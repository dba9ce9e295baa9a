"""Paper fills against the book (issue 21), hand-computed on small MBO and MBP tapes.

ES prices in ticks (price * 4): 4806.75 = 19227, 4807.00 = 19228, 4807.25 = 19229,
4807.50 = 19230, 4807.75 = 19231, 4808.00 = 19232. Order ids are small integers; ``A``dd,
``C``ancel, ``M``odify, ``F``ill and ``T``rade rows follow Databento's MBO semantics.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from tapeflow.core.events import Flag, Side
from tapeflow.trading import Account, OrderStatus, OrderType, PaperSettings, TradingSettings
from tapeflow.trading.testing import MS, et, levels, mbo, trades
from tapeflow.trading.testing import es_request as req
from tapeflow.trading.testing import fill_list as fills
from tapeflow.trading.testing import paper_account as account

BUY, SELL = Side.BUY, Side.SELL
BID, ASK = 1, -1
T0 = et(date(2024, 7, 2), "10:00")



def spread_book() -> list[tuple]:
    """4806.75 bid (3 lots in two orders) x 4807.25 ask (2 lots in two orders), 4807.50 ask 5."""
    return [
        ("A", 1, BID, 19227, 2),
        ("A", 2, BID, 19227, 1),
        ("A", 3, ASK, 19229, 1),
        ("A", 4, ASK, 19229, 1),
        ("A", 5, ASK, 19230, 5),
    ]


# -- 1. market and marketable orders read the L3 book -------------------------------------------


def test_mbo_market_buy_takes_the_ask_plus_slippage_not_the_last_print():
    acct, ev = account(slippage_ticks=1)
    acct.on_events(mbo(T0, spread_book()))
    acct.on_events(trades(T0 + MS, [(19228, 1, 1)]))  # an odd print inside the spread (4807.00)
    acct.on_events(mbo(T0 + 2 * MS, [("C", 1, BID, 19227, 0)]))  # a book row closes the event
    oid = acct.submit(req(BUY)).order_id
    assert fills(ev) == [(oid, 1, 19230)]  # 4807.25 ask + 1 tick = 4807.50, never 4807.00


def test_mbo_market_sell_takes_the_bid_minus_slippage():
    acct, ev = account(slippage_ticks=1)
    acct.on_events(mbo(T0, spread_book()))
    oid = acct.submit(req(SELL)).order_id
    assert fills(ev) == [(oid, 1, 19226)]


def test_mbo_market_buy_walks_two_levels_for_its_size():
    acct, ev = account(slippage_ticks=1)
    acct.on_events(mbo(T0, spread_book()))
    oid = acct.submit(req(BUY, 4)).order_id
    # 2 lots rest at 4807.25 (orders 3 and 4), the other 2 come from 4807.50; each plus 1 tick
    assert fills(ev) == [(oid, 2, 19230), (oid, 2, 19231)]
    assert acct.orders[oid].status == OrderStatus.FILLED


def test_mbp_market_buy_walks_the_l2_levels_too():
    acct, ev = account(slippage_ticks=0)
    acct.on_events(levels(T0, [(1, 0, 19227, 3), (-1, 0, 19229, 2), (-1, 1, 19230, 5)]))
    oid = acct.submit(req(BUY, 3)).order_id
    assert fills(ev) == [(oid, 2, 19229), (oid, 1, 19230)]


def test_market_size_beyond_the_visible_book_fills_one_tick_past_its_last_level():
    acct, ev = account(slippage_ticks=0)
    acct.on_events(levels(T0, [(1, 0, 19227, 3), (-1, 0, 19229, 2)]))  # mbp-1: one level a side
    oid = acct.submit(req(BUY, 3)).order_id
    assert fills(ev) == [(oid, 2, 19229), (oid, 1, 19230)]


def test_mbo_marketable_limit_takes_levels_up_to_its_price_and_rests_the_rest():
    acct, ev = account()
    acct.on_events(mbo(T0, spread_book()))
    oid = acct.submit(req(BUY, 4, type=OrderType.LIMIT, limit_price=19229)).order_id
    assert fills(ev) == [(oid, 2, 19229)]  # 4807.25 only; 4807.50 is beyond the limit
    assert acct.orders[oid].remaining == 2
    # the remaining 2 lots now rest at 4807.25 on the bid with nobody ahead: a seller there fills them
    acct.on_events(mbo(T0 + MS, [("T", 90, SELL, 19229, 2)]))
    assert fills(ev)[-1] == (oid, 2, 19229)


# -- 2. limit orders queue behind the L3 orders at their price ----------------------------------


def target_tape() -> list[tuple]:
    """4807.75 ask with 26 contracts in two orders (10 then 16), bid 4807.50."""
    return [("A", 10, ASK, 19231, 10), ("A", 11, ASK, 19231, 16), ("A", 12, BID, 19230, 4)]


def test_mbo_limit_does_not_fill_while_the_queue_ahead_has_not_traded():
    acct, ev = account()
    acct.on_events(mbo(T0, target_tape()))
    oid = acct.submit(req(SELL, 1, type=OrderType.LIMIT, limit_price=19231)).order_id
    # buyers lift 4 of the 26 ahead of us (order 10 shrinks to 6), then nothing more trades there
    acct.on_events(mbo(T0 + MS, [("T", 91, BUY, 19231, 4), ("F", 10, ASK, 19231, 4), ("M", 10, ASK, 19231, 6)]))
    assert fills(ev) == []
    assert acct.orders[oid].status == OrderStatus.ACCEPTED


def test_mbo_cancels_ahead_advance_the_queue_and_cancels_behind_do_not():
    acct, ev = account()
    acct.on_events(mbo(T0, target_tape()))
    oid = acct.submit(req(SELL, 2, type=OrderType.LIMIT, limit_price=19231)).order_id
    acct.on_events(mbo(T0 + MS, [("A", 13, ASK, 19231, 30)]))  # joins behind us
    acct.on_events(mbo(T0 + 2 * MS, [("C", 13, ASK, 19231, 30)]))  # cancel behind: still 26 ahead
    acct.on_events(mbo(T0 + 3 * MS, [("T", 92, BUY, 19231, 26)]))
    assert fills(ev) == []  # the print exactly consumed the 26 ahead
    acct2, ev2 = account()
    acct2.on_events(mbo(T0, target_tape()))
    oid2 = acct2.submit(req(SELL, 2, type=OrderType.LIMIT, limit_price=19231)).order_id
    acct2.on_events(mbo(T0 + MS, [("C", 11, ASK, 19231, 16)]))  # cancel ahead: 10 ahead now
    acct2.on_events(mbo(T0 + 2 * MS, [("C", 10, ASK, 19231, 3)]))  # partial cancel ahead: 7 ahead
    acct2.on_events(mbo(T0 + 3 * MS, [("T", 93, BUY, 19231, 8)]))
    assert fills(ev2) == [(oid2, 1, 19231)]  # 8 - 7 ahead = 1 for us
    assert oid is not None


def test_mbo_modify_ahead_that_keeps_its_price_and_shrinks_advances_us_but_a_move_away_removes_it():
    acct, ev = account()
    acct.on_events(mbo(T0, target_tape()))
    oid = acct.submit(req(SELL, 5, type=OrderType.LIMIT, limit_price=19231)).order_id
    acct.on_events(mbo(T0 + MS, [("M", 10, ASK, 19231, 4)]))  # 10 -> 4 keeps its place: 20 ahead
    acct.on_events(mbo(T0 + 2 * MS, [("M", 11, ASK, 19232, 16)]))  # moves up a tick: 4 ahead
    acct.on_events(mbo(T0 + 3 * MS, [("M", 11, ASK, 19231, 16)]))  # back again: behind us now
    acct.on_events(mbo(T0 + 4 * MS, [("T", 94, BUY, 19231, 7)]))
    assert fills(ev) == [(oid, 3, 19231)]


def test_mbo_book_reductions_that_follow_a_print_do_not_advance_the_queue_twice():
    acct, ev = account()
    acct.on_events(mbo(T0, target_tape()))
    oid = acct.submit(req(SELL, 1, type=OrderType.LIMIT, limit_price=19231)).order_id
    # the print takes 4 from order 10, and the exchange then shrinks order 10 by those 4
    acct.on_events(mbo(T0 + MS, [("T", 95, BUY, 19231, 4), ("F", 10, ASK, 19231, 4), ("M", 10, ASK, 19231, 6)]))
    acct.on_events(mbo(T0 + 2 * MS, [("T", 96, BUY, 19231, 22)]))  # exactly the 22 still ahead
    assert fills(ev) == []
    acct.on_events(mbo(T0 + 3 * MS, [("C", 10, ASK, 19231, 6, False), ("C", 11, ASK, 19231, 16)]))
    acct.on_events(mbo(T0 + 4 * MS, [("T", 97, BUY, 19231, 1)]))
    assert fills(ev) == [(oid, 1, 19231)]


def test_mbo_buy_limit_joining_behind_14_lots_waits_for_them():
    acct, ev = account()
    acct.on_events(mbo(T0, [("A", 20, BID, 19227, 14), ("A", 21, ASK, 19228, 3)]))
    oid = acct.submit(req(BUY, 1, type=OrderType.LIMIT, limit_price=19227)).order_id
    acct.on_events(mbo(T0 + MS, [("T", 98, SELL, 19227, 13), ("F", 20, BID, 19227, 13), ("M", 20, BID, 19227, 1)]))
    assert fills(ev) == []
    acct.on_events(mbo(T0 + 2 * MS, [("T", 99, SELL, 19227, 2), ("F", 20, BID, 19227, 1), ("C", 20, BID, 19227, 1)]))
    assert fills(ev) == [(oid, 1, 19227)]


def test_mbo_trade_through_the_limit_fills_everything_at_the_limit():
    acct, ev = account()
    acct.on_events(mbo(T0, target_tape()))
    oid = acct.submit(req(SELL, 3, type=OrderType.LIMIT, limit_price=19231)).order_id
    acct.on_events(mbo(T0 + MS, [("T", 100, BUY, 19232, 1)]))
    assert fills(ev) == [(oid, 3, 19231)]


# -- 3. a triggered stop fills on the book after its print --------------------------------------


def test_mbo_stop_fills_against_book_after_trigger_print():
    # 5500.50 = 22002 bid 4 lots, 5500.25 = 22001 empty, 5500.00 = 22000 bid 10; ask 5500.75
    acct, ev = account(slippage_ticks=1)
    acct.on_events(mbo(T0, [("A", 1, BID, 22002, 4), ("A", 2, BID, 22000, 10), ("A", 3, ASK, 22003, 5)]))
    oid = acct.submit(req(SELL, 1, type=OrderType.STOP, stop_price=22002)).order_id
    acct.on_events(mbo(T0 + MS, [("T", 50, SELL, 22002, 4), ("F", 1, BID, 22002, 4), ("C", 1, BID, 22002, 4)]))
    assert fills(ev) == [(oid, 1, 21999)]  # bid after the print 5500.00, minus 1 tick: 5499.75


def test_mbp1_stop_fills_against_book_after_trigger_print():
    """mbp-1: the trade row carries the pre-trade book; the next row (end of the event) the new bid."""
    acct, ev = account(slippage_ticks=1)
    book = levels(T0, [(1, 0, 22002, 4), (-1, 0, 22003, 5)])
    book["flags"] = Flag.LAST
    acct.on_events(book)
    oid = acct.submit(req(SELL, 1, type=OrderType.STOP, stop_price=22002)).order_id
    acct.on_events(trades(T0 + MS, [(22002, 4, -1)]))
    assert fills(ev) == []  # triggered, waiting for the book after its print
    after = levels(T0 + MS, [(1, 0, 22000, 10)])
    after["flags"] = Flag.LAST
    acct.on_events(after)
    assert fills(ev) == [(oid, 1, 21999)]
    assert acct.orders[oid].triggered


def test_stop_on_a_book_without_packet_flags_takes_the_print_out_of_the_book():
    """A tape that never marks its events (CSV DOM, test tapes): the book at the print, less what the
    print took, and one tick past it when it took the whole level."""
    acct, ev = account(slippage_ticks=1)
    acct.on_events(levels(T0, [(1, 0, 22002, 4), (1, 1, 22001, 6), (-1, 0, 22003, 5)]))
    oid = acct.submit(req(SELL, 1, type=OrderType.STOP, stop_price=22002)).order_id
    acct.on_events(trades(T0 + MS, [(22002, 4, -1)]))
    assert fills(ev) == [(oid, 1, 22000)]  # 5500.25 was the next bid: 5500.25 - 1 tick


def test_stop_on_trades_only_still_fills_at_the_print_plus_slippage():
    acct, ev = account(slippage_ticks=1)
    acct.on_events(trades(T0, [(22005, 1, 1)]))
    oid = acct.submit(req(SELL, 1, type=OrderType.STOP, stop_price=22002)).order_id
    acct.on_events(trades(T0 + MS, [(22002, 4, -1)]))
    assert fills(ev) == [(oid, 1, 22001)]


def test_a_stop_cancelled_while_waiting_for_the_book_never_fills():
    acct, ev = account(slippage_ticks=1)
    acct.on_events(mbo(T0, [("A", 1, BID, 22002, 4), ("A", 2, BID, 22000, 10), ("A", 3, ASK, 22003, 5)]))
    oid = acct.submit(req(SELL, 1, type=OrderType.STOP, stop_price=22002)).order_id
    acct.on_events(mbo(T0 + MS, [("T", 50, SELL, 22002, 4), ("F", 1, BID, 22002, 4)]))
    acct.cancel(oid)
    acct.on_events(mbo(T0 + MS, [("C", 1, BID, 22002, 4)]))
    assert fills(ev) == []
    assert acct.orders[oid].status == OrderStatus.CANCELLED


def test_broker_names_the_fill_model_the_tape_allowed():
    acct, _ = account()
    broker = acct.broker
    assert broker.fill_model("ES") == "trades"
    acct.on_events(trades(T0, [(22005, 1, 1)]))
    assert broker.fill_model("ES") == "trades"
    acct.on_events(levels(T0, [(1, 0, 22002, 4)]))
    assert broker.fill_model("ES") == "mbp"
    acct.on_events(mbo(T0, [("A", 1, BID, 22002, 4)]))
    assert broker.fill_model("ES") == "mbo"


# -- the real ES MBO file ---------------------------------------------------------------------


def test_real_mbo_file_prices_fills_off_the_book_and_queues_behind_it(mbo_file):
    """After the snapshot the book is 5214.00 bid (26) x 5214.25 ask (24 lots); then two seconds in
    which buyers lift 6 lots at 5214.25. The DOM, built apart from the broker, is the judge."""
    from tapeflow.core.events import concat
    from tapeflow.feeds.open import open_source
    from tapeflow.flow.book import OrderBook
    from tapeflow.trading.paper_broker import PaperBroker

    ev = concat(list(open_source(str(mbo_file))))
    live = int(np.flatnonzero((ev["flags"] & Flag.SNAPSHOT) == 0)[0])
    settings = TradingSettings(paper=PaperSettings(slippage_ticks=1))
    broker = PaperBroker(settings.paper, {int(ev["instrument_id"][0]): "ES"})
    acct = Account(settings, broker=broker)
    dom = OrderBook()
    dom.apply(ev[:live])
    acct.on_events(ev[:live])
    assert broker.fill_model("ES") == "mbo"
    ask = dom.best_ask()
    assert ask == (20857, 24) and dom.best_bid() == (20856, 26)

    seen: list[tuple[OrderType, int, int]] = []  # (type, fill price, DOM best ask at that moment)
    acct.subscribe(lambda e: e.fill and seen.append((e.order.request.type, e.fill.price, dom.best_ask()[0])))
    acct.submit(req(BUY))
    target = acct.submit(req(SELL, 1, type=OrderType.LIMIT, limit_price=20857)).order_id
    acct.submit(req(BUY, 1, type=OrderType.STOP, stop_price=20857))
    for i in range(live, len(ev)):
        dom.apply(ev[i : i + 1])
        acct.on_events(ev[i : i + 1])
    assert int(ev["size"][ev["kind"] == 1].sum()) == 6
    assert seen[0] == (OrderType.MARKET, 20858, 20857)  # at once: the ask plus 1 tick
    kind, price, ask_then = seen[1]
    assert kind == OrderType.STOP and price == ask_then + 1  # the book after its print, plus 1 tick
    assert len(seen) == 2
    assert acct.orders[target].status == OrderStatus.ACCEPTED  # 24 lots ahead, 6 traded: no fill


def test_backtest_report_on_the_real_mbo_file_says_it_used_the_l3_book(tmp_path, mbo_file):
    import json

    from tapeflow.cli import main

    out = tmp_path / "rep"
    assert main(["backtest", str(mbo_file), "--settings", "/dev/null", "--out", str(out)]) == 0
    per_file = json.loads((out / "metrics.json").read_text())["source"]["fill_model_per_file"]
    (model,) = per_file.values()
    assert model.startswith("mbo: L3 book")
    assert "fill_model_per_file" in (page := (out / "report.html").read_text()) and "mbo: L3 book" in page


def dom_rows(ts: int, rows: list[tuple[int, int, int]]) -> np.ndarray:
    """Price-keyed book rows ``(side, price, size)``, as a CSV's DOM columns become."""
    from tapeflow.core.events import LEVEL_UNKNOWN

    out = levels(ts, [(s, 0, p, q) for s, p, q in rows])
    out["level"] = LEVEL_UNKNOWN
    return out


def test_csv_dom_levels_are_a_book_by_price_in_bulk_and_row_by_row():
    # 10 bids 19218..19227 and 10 asks 19229..19238, 2 lots each; then 19229 empties, 19230 -> 1
    book = [(1, 19227 - i, 2) for i in range(10)] + [(-1, 19229 + i, 2) for i in range(10)]
    change = [(-1, 19229, 0), (-1, 19230, 1)]
    for rows in (dom_rows(T0, book + change), None):  # one bulk batch (> 16 rows), then row by row
        acct, ev = account(slippage_ticks=0)
        acct.submit(req(BUY, 1, type=OrderType.LIMIT, limit_price=19000))  # an open order: rows are walked
        if rows is not None:
            acct.on_events(rows)
        else:
            for r in (*book, *change):
                acct.on_events(dom_rows(T0, [r]))
        assert acct.broker.fill_model("ES") == "mbp"
        oid = acct.submit(req(BUY, 4)).order_id
        assert fills(ev) == [(oid, 1, 19230), (oid, 2, 19231), (oid, 1, 19232)]


def test_tbbo_stop_fills_at_once_on_the_quote_less_its_print():
    """tbbo: each trade record carries the quote before it and ends its packet on the print itself;
    no book row ever ends an event, so nothing may wait for one."""
    acct, ev = account(slippage_ticks=1)

    def record(t: int, price: int, aggressor: int) -> np.ndarray:
        trade = trades(t, [(price, 1 if aggressor > 0 else 4, aggressor)])
        trade["flags"] = Flag.LAST
        return np.concatenate([levels(t, [(1, 0, 22002, 4), (-1, 0, 22003, 5)]), trade])

    acct.on_events(np.concatenate([record(T0 + i * MS, 22003, 1) for i in range(10)]))  # 30 rows at once
    oid = acct.submit(req(SELL, 1, type=OrderType.STOP, stop_price=22002)).order_id
    acct.on_events(record(T0 + 20 * MS, 22002, -1))
    # the print took all 4 lots of the 5500.50 bid: one tick past it, 5500.25, less 1 tick of slippage
    assert fills(ev) == [(oid, 1, 22000)]


def test_a_new_file_keeps_a_resting_limits_place_as_an_estimate_and_drops_the_old_book():
    acct, ev = account(slippage_ticks=0)
    acct.on_events(mbo(T0, target_tape()))
    oid = acct.submit(req(SELL, 1, type=OrderType.LIMIT, limit_price=19231)).order_id
    acct.on_events(mbo(T0 + MS, [("T", 101, BUY, 19231, 6), ("F", 10, ASK, 19231, 6), ("M", 10, ASK, 19231, 4)]))
    acct.broker.new_tape("ES")  # the next day's file: trades only
    assert acct.broker.fill_model("ES") == "trades"
    acct.on_events(trades(T0 + 2 * MS, [(19231, 20, 1)]))  # 20 of the 20 still ahead
    assert fills(ev) == []
    acct.on_events(trades(T0 + 3 * MS, [(19231, 1, 1)]))
    assert fills(ev) == [(oid, 1, 19231)]
    mkt = acct.submit(req(BUY)).order_id  # yesterday's asks are gone: the last print stands in
    assert fills(ev)[-1] == (mkt, 1, 19231)


def test_paper_book_levels_equal_the_dom_on_the_real_mbo_file(mbo_file):
    """The broker keeps its own L3 book (it must see it row by row); level for level it is the DOM."""
    from tapeflow.core.events import concat
    from tapeflow.feeds.open import open_source
    from tapeflow.flow.book import OrderBook
    from tapeflow.trading.paper_broker import PaperBroker

    ev = concat(list(open_source(str(mbo_file))))
    broker = PaperBroker(PaperSettings(), {int(ev["instrument_id"][0]): "ES"})
    dom = OrderBook()
    for part in np.array_split(ev, 7):  # bulk and small batches alike
        broker.on_events(part)
        dom.apply(part)
        depth, book = dom.depth(10), broker.books["ES"]
        assert book.side_levels(1)[:10] == list(zip(depth.bid_price.tolist(), depth.bid_size.tolist(), strict=True))
        assert book.side_levels(-1)[:10] == list(zip(depth.ask_price.tolist(), depth.ask_size.tolist(), strict=True))


def test_book_rows_without_a_price_never_become_a_level():
    from tapeflow.core.events import NO_PRICE

    acct, ev = account(slippage_ticks=0)
    acct.on_events(mbo(T0, [("A", 1, ASK, NO_PRICE, 5), ("A", 2, ASK, 19229, 1), ("M", 2, ASK, NO_PRICE, 1)]))
    acct.on_events(mbo(T0, [("A", 3, ASK, 19230, 2)]))
    oid = acct.submit(req(BUY)).order_id
    assert fills(ev) == [(oid, 1, 19230)]
