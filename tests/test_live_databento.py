"""Databento live adapter: translation of databento_dbn records (built here, no network) and the
session wrapper over a fake client (reconnect replays from the last record without duplicates)."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import databento_dbn as dbn
import numpy as np
import pytest
import zstandard

from tapeflow.core.events import NO_PRICE, Flag, Kind, Side
from tapeflow.core.instruments import instrument
from tapeflow.feeds.dbn_file import DbnFileSource
from tapeflow.feeds.live_databento import DatabentoConnector, DatabentoLiveSource, DatabentoTranslator
from tapeflow.feeds.live_feed import Backoff

ES = instrument("ES")
PX = 1_000_000_000  # DBN price units per index point
T0 = 1_719_878_400_000_000_000


def trade(ts: int, points: float, size: int, side: str, seq: int = 0, flags: int = dbn.F_LAST) -> dbn.TradeMsg:
    return dbn.TradeMsg(1, 42, ts, int(points * PX), size, dbn.Action.TRADE, dbn.Side(side), 0, ts + 500,
                        flags=flags, sequence=seq)


def mbp1(ts: int, action: str, side: str, points: float, size: int, bid: tuple, ask: tuple) -> dbn.MBP1Msg:
    level = dbn.BidAskPair(int(bid[0] * PX), int(ask[0] * PX), bid[1], ask[1], bid[2], ask[2])
    return dbn.MBP1Msg(1, 42, ts, int(points * PX), size, dbn.Action(action), dbn.Side(side), 0, ts + 500,
                       flags=dbn.F_LAST, sequence=9, levels=level)


def test_trade_records_become_trade_events_in_ticks_with_the_aggressor_side():
    tr = DatabentoTranslator("trades", ES)
    ev = tr([trade(T0, 5529.25, 3, "A", seq=7), trade(T0 + 1, 5529.50, 2, "B")])
    assert ev["kind"].tolist() == [Kind.TRADE, Kind.TRADE]
    assert ev["price"].tolist() == [22117, 22118]  # 5529.25 / 0.25, 5529.50 / 0.25
    assert ev["side"].tolist() == [Side.SELL, Side.BUY]  # 'A': seller hit the bid
    assert ev["size"].tolist() == [3, 2] and ev["sequence"].tolist() == [7, 0]
    assert ev["ts_event"].tolist() == [T0, T0 + 1] and ev["ts_recv"].tolist() == [T0 + 500, T0 + 501]
    assert (ev["flags"] & Flag.LAST).all() and ev["instrument_id"].tolist() == [42, 42]


def test_mbp1_records_emit_only_the_book_sides_that_changed_then_the_trade():
    tr = DatabentoTranslator("mbp-1", ES)
    ev = tr([
        mbp1(T0, "A", "B", 5529.00, 5, bid=(5529.00, 10, 2), ask=(5529.25, 7, 1)),  # first: both sides new
        mbp1(T0 + 1, "C", "B", 5529.00, 4, bid=(5529.00, 6, 1), ask=(5529.25, 7, 1)),  # bid size 10 -> 6
        mbp1(T0 + 2, "T", "A", 5529.00, 6, bid=(5529.00, 6, 1), ask=(5529.25, 7, 1)),  # a print, book unchanged
    ])
    rows = zip(ev["kind"].tolist(), ev["side"].tolist(), ev["price"].tolist(), ev["size"].tolist(), strict=True)
    assert list(rows) == [
        (Kind.LEVEL, Side.BUY, 22116, 10),
        (Kind.LEVEL, Side.SELL, 22117, 7),
        (Kind.LEVEL, Side.BUY, 22116, 6),
        (Kind.TRADE, Side.SELL, 22116, 6),
    ]
    assert ev["count"].tolist()[:3] == [2, 1, 1]


def test_mbp1_rows_of_one_packet_end_on_the_record_flagged_last():
    """A record that becomes two LEVEL rows (both sides new) ends its event on the second; a print
    without F_LAST and the book record after it (F_LAST) are one event ending on the book row."""
    tr = DatabentoTranslator("mbp-1", ES)
    book = dbn.BidAskPair(int(5529.00 * PX), int(5529.25 * PX), 6, 7, 1, 1)
    ev = tr([
        mbp1(T0, "A", "B", 5529.00, 5, bid=(5529.00, 10, 2), ask=(5529.25, 7, 1)),
        dbn.MBP1Msg(1, 42, T0 + 1, int(5529.00 * PX), 4, dbn.Action.TRADE, dbn.Side.ASK, 0, T0 + 501, flags=0,
                    sequence=10, levels=dbn.BidAskPair(int(5529.00 * PX), int(5529.25 * PX), 10, 7, 2, 1)),
        dbn.MBP1Msg(1, 42, T0 + 1, int(5529.00 * PX), 4, dbn.Action.CANCEL, dbn.Side.BID, 0, T0 + 501,
                    flags=dbn.F_LAST, sequence=11, levels=book),
    ])
    assert ev["kind"].tolist() == [Kind.LEVEL, Kind.LEVEL, Kind.TRADE, Kind.LEVEL]
    assert ev["flags"].tolist() == [0, Flag.LAST, 0, Flag.LAST]


def test_live_translation_of_the_files_own_records_equals_the_file_reader(mbp1_file):
    dec = dbn.DBNDecoder()
    with open(mbp1_file, "rb") as f:
        dec.write(zstandard.ZstdDecompressor().stream_reader(f).read())
    _, *records = dec.decode()
    tr = DatabentoTranslator("mbp-1", ES)
    live = np.concatenate([tr(records[i : i + 100]) for i in range(0, len(records), 100)])
    assert live.tobytes() == np.concatenate(list(DbnFileSource(mbp1_file))).tobytes()
    assert tr.stats.records == 2288 and tr.stats.malformed_total == 0


def test_control_records_update_symbols_heartbeats_and_errors_without_events():
    tr = DatabentoTranslator("trades", ES)
    ev = tr([
        dbn.SymbolMappingMsg(1, 42, T0, dbn.SType.CONTINUOUS, "ES.c.0", dbn.SType.RAW_SYMBOL, "ESU4", T0, T0 + 1),
        dbn.SystemMsg(T0, "Heartbeat", dbn.SystemCode.HEARTBEAT),
        dbn.ErrorMsg(T0, "auth failed"),
    ])
    assert len(ev) == 0
    assert tr.instrument_ids == {42: "ESU4"} and tr.heartbeats == 1 and tr.errors == ["auth failed"]


def test_off_tick_and_undefined_prices_are_counted_not_emitted():
    tr = DatabentoTranslator("trades", ES)
    bad = dbn.TradeMsg(1, 42, T0, 5529_100_000_000, 1, dbn.Action.TRADE, dbn.Side.BID, 0, T0)
    ev = tr([bad, trade(T0 + 1, 5529.25, 1, "B")])
    assert len(ev) == 1 and dict(tr.stats.malformed) == {"off-tick price": 1}


def test_a_live_trade_far_from_earlier_ones_is_refused_even_when_it_arrives_alone():
    """Live reads often hold one record, so the reference price must outlive a read."""
    tr = DatabentoTranslator("trades", ES)
    assert len(tr([trade(T0, 5529.25, 1, "B")])) == 1
    assert len(tr([trade(T0 + 1, 500_000.00, 1, "B")])) == 0  # 2M ticks away: would size the profile by it
    assert len(tr([trade(T0 + 2, 0.25, 1, "A")])) == 0
    assert len(tr([trade(T0 + 3, 5529.50, 1, "B")])) == 1
    assert dict(tr.stats.malformed) == {"implausible price (more than 50% from the median)": 2}


class FakeLive:
    """Stands in for ``databento.Live``: replays ``records`` (from ``start`` if given) on start."""

    sessions: ClassVar[list[dict]] = []

    def __init__(self, records: list, fail_after: int | None) -> None:
        self.records = records
        self.fail_after = fail_after
        self.callbacks: list = []

    def add_callback(self, fn, exc_fn=None) -> None:
        self.callbacks.append((fn, exc_fn))

    def subscribe(self, **kw) -> None:
        self.kw = kw
        FakeLive.sessions.append(kw)

    def start(self) -> None:
        start = self.kw.get("start")
        recs = [r for r in self.records if start is None or r.ts_event >= start]
        fn, exc_fn = self.callbacks[0]
        for i, r in enumerate(recs):
            if self.fail_after is not None and i == self.fail_after:
                exc_fn(ConnectionResetError("gateway went away"))
                return
            fn(r)
        fn(dbn.SystemMsg(T0, "done", dbn.SystemCode.REPLAY_COMPLETED))

    def stop(self) -> None:
        pass


def test_reconnect_replays_from_the_last_record_and_skips_what_was_delivered():
    # five trades, three of them at the same nanosecond; the first session dies after three records
    records = [trade(T0, 5529.25, 1, "A"), trade(T0 + 5, 5529.50, 2, "B"), trade(T0 + 5, 5529.50, 3, "B"),
               trade(T0 + 5, 5529.75, 4, "B"), trade(T0 + 9, 5530.00, 5, "A")]
    clients = iter([FakeLive(records, fail_after=3), FakeLive(records, fail_after=None)])
    FakeLive.sessions = []

    async def main() -> tuple[list[int], DatabentoLiveSource]:
        src = DatabentoLiveSource("ES.c.0", schema="trades", client_factory=lambda: next(clients),
                                  backoff=Backoff(0.001, 0.001, jitter=0.0))
        sizes: list[int] = []
        async for batch in src:
            sizes += batch["size"].tolist()
            if len(sizes) == 5:
                break
        return sizes, src

    sizes, src = asyncio.run(asyncio.wait_for(main(), 10))
    assert sizes == [1, 2, 3, 4, 5]  # nothing lost, nothing twice
    assert FakeLive.sessions[0]["stype_in"] == "continuous" and FakeLive.sessions[0]["symbols"] == ["ES.c.0"]
    assert "start" not in FakeLive.sessions[0] and FakeLive.sessions[1]["start"] == T0 + 5
    status = src.status()
    assert status.reconnects == 1 and "gateway went away" in status.last_error
    assert [g.kind for g in src.gaps] == ["outage"] and src.gaps[0].missing == -1


def test_mbo_reconnect_asks_for_a_book_snapshot_instead_of_a_replay():
    conn = DatabentoConnector(["ESU4"], schema="mbo", stype_in="raw_symbol", instrument=ES, key="x",
                              client_factory=lambda: FakeLive([], None))
    conn.translator.last_ts = T0
    FakeLive.sessions = []

    async def main() -> None:
        await conn.connect(None)

    asyncio.run(main())
    assert FakeLive.sessions[0]["snapshot"] is True and "start" not in FakeLive.sessions[0]


def test_real_client_takes_the_key_from_the_environment(monkeypatch):
    db = pytest.importorskip("databento", reason="optional extra tapeflow[databento] is not installed")
    monkeypatch.setenv("DATABENTO_API_KEY", "db-" + "x" * 29)
    conn = DatabentoConnector(["ES.c.0"], schema="mbp-1", stype_in="continuous", instrument=ES, key=None)

    async def make():  # the client binds to a loop; building it connects nothing
        return conn._client()

    client = asyncio.run(make())
    assert isinstance(client, db.Live) and client.key == "db-" + "x" * 29


def test_without_a_key_the_error_says_where_to_put_it(monkeypatch):
    from tapeflow.errors import TapeflowError
    from tapeflow.feeds.live_credentials import get_secret

    monkeypatch.delenv("DATABENTO_API_KEY", raising=False)
    monkeypatch.setitem(__import__("sys").modules, "keyring", None)  # as if the extra were not installed
    with pytest.raises(TapeflowError, match="DATABENTO_API_KEY is not set; set it, or store it with"):
        get_secret("DATABENTO_API_KEY", "databento-api-key")


def test_an_empty_book_side_is_no_price():
    tr = DatabentoTranslator("mbp-1", ES)
    level = dbn.BidAskPair(bid_px=int(5529 * PX), bid_sz=1, bid_ct=1)  # ask undefined
    ev = tr([dbn.MBP1Msg(1, 42, T0, int(5529 * PX), 1, dbn.Action.ADD, dbn.Side.BID, 0, T0, flags=dbn.F_LAST,
                         levels=level)])
    assert ev["kind"].tolist() == [Kind.LEVEL] and ev["side"].tolist() == [Side.BUY]
    assert NO_PRICE not in ev["price"].tolist()
