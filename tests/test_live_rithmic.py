"""Rithmic adapter: translation of ``on_tick`` payloads (plain dicts shaped as async-rithmic delivers
them, and, when the extra is installed, dicts made from its own protobuf messages). No network: the
feed on a real session over sockets is in test_rithmic_feed.py."""

from __future__ import annotations

import pytest

from tapeflow.core.events import NO_PRICE, Flag, Kind, Side
from tapeflow.core.instruments import instrument
from tapeflow.feeds.base import FeedStats
from tapeflow.feeds.live_rithmic import BBO, LAST_TRADE, translate_ticks

ES = instrument("ES")
SSBOE = 1_719_878_400  # 2024-07-02 00:00:00 UTC


def last_trade(price: float, size: int, aggressor: int, **kw) -> dict:
    d = {"symbol": "ESU4", "exchange": "CME", "presence_bits": 1, "trade_price": price, "trade_size": size,
         "aggressor": aggressor, "ssboe": SSBOE, "usecs": 250, "source_ssboe": SSBOE, "source_usecs": 100,
         "source_nsecs": 100_123, "data_type": LAST_TRADE}
    d.update(kw)
    return d


def test_trades_carry_the_aggressor_side_exchange_time_and_exact_ticks():
    stats = FeedStats()
    ev = translate_ticks([last_trade(5529.25, 3, 1), last_trade(5529.0, 1, 2)], ES, stats)
    assert ev["kind"].tolist() == [Kind.TRADE, Kind.TRADE]
    assert ev["side"].tolist() == [Side.BUY, Side.SELL]
    assert ev["price"].tolist() == [22117, 22116] and ev["size"].tolist() == [3, 1]
    assert ev["ts_event"].tolist() == [SSBOE * 10**9 + 100_123] * 2  # source_nsecs: exchange time
    assert ev["ts_recv"].tolist() == [SSBOE * 10**9 + 250_000] * 2  # ssboe/usecs: gateway time
    assert stats.records == 2 and stats.malformed_total == 0


def test_bbo_sides_become_depth_zero_levels_and_an_empty_side_has_no_price():
    bbo = {"data_type": BBO, "presence_bits": 3, "bid_price": 5529.0, "bid_size": 12, "bid_orders": 4,
           "ask_price": 5529.25, "ssboe": SSBOE, "usecs": 7}  # ask_size absent: 0 (MessageToDict drops defaults)
    ev = translate_ticks([bbo], ES)
    assert ev["kind"].tolist() == [Kind.LEVEL, Kind.LEVEL] and ev["level"].tolist() == [0, 0]
    assert ev["side"].tolist() == [Side.BUY, Side.SELL]
    assert ev["price"].tolist() == [22116, NO_PRICE] and ev["size"].tolist() == [12, 0]
    assert ev["count"].tolist() == [4, 0]


def test_only_the_sides_named_in_presence_bits_are_updated():
    ev = translate_ticks([{"data_type": BBO, "presence_bits": 2, "ask_price": 5530.0, "ask_size": 5}], ES)
    assert ev["side"].tolist() == [Side.SELL] and ev["price"].tolist() == [22120]


def test_subscription_snapshot_of_the_last_trade_is_not_counted_as_a_new_print():
    stats = FeedStats()
    ev = translate_ticks([last_trade(5529.25, 3, 1, is_snapshot=True), last_trade(5529.25, 1, 1)], ES, stats)
    assert len(ev) == 1 and dict(stats.malformed) == {"trade snapshot on subscribe (not a new print)": 1}


def test_bbo_snapshot_levels_are_flagged_snapshot():
    ev = translate_ticks([{"data_type": BBO, "presence_bits": 1, "bid_price": 5529.0, "bid_size": 1,
                           "is_snapshot": True}], ES)
    assert (ev["flags"] & Flag.SNAPSHOT).all()


def test_off_grid_prices_and_missing_aggressor_are_handled_visibly():
    stats = FeedStats()
    ev = translate_ticks([last_trade(5529.1, 1, 1), last_trade(5529.5, 2, 0)], ES, stats)
    assert dict(stats.malformed) == {"off-tick price": 1}
    assert ev["side"].tolist() == [Side.NONE] and ev["price"].tolist() == [22118]


def test_translation_of_async_rithmic_protobuf_messages():
    pytest.importorskip("async_rithmic", reason="optional extra tapeflow[rithmic] (async-rithmic) is not installed")
    from async_rithmic.protocol_buffers import best_bid_offer_pb2, last_trade_pb2
    from google.protobuf.json_format import MessageToDict

    def as_delivered(msg, data_type: int) -> dict:  # what async_rithmic's ticker plant hands to on_tick
        d = MessageToDict(msg, preserving_proto_field_name=True, use_integers_for_enums=True)
        d.pop("template_id", None)
        d["data_type"] = data_type
        return d

    lt = last_trade_pb2.LastTrade(template_id=150, symbol="ESU4", exchange="CME", presence_bits=1,
                                  trade_price=5529.25, trade_size=3,
                                  aggressor=last_trade_pb2.LastTrade.TransactionType.SELL,
                                  ssboe=SSBOE, usecs=10, source_ssboe=SSBOE, source_nsecs=5)
    bb = best_bid_offer_pb2.BestBidOffer(template_id=151, symbol="ESU4", exchange="CME", presence_bits=3,
                                         bid_price=5529.0, bid_size=9, bid_orders=2, ask_price=5529.25, ask_size=4,
                                         ask_orders=1, ssboe=SSBOE, usecs=20)
    ev = translate_ticks([as_delivered(lt, LAST_TRADE), as_delivered(bb, BBO)], ES)
    assert ev["kind"].tolist() == [Kind.TRADE, Kind.LEVEL, Kind.LEVEL]
    assert ev["side"].tolist() == [Side.SELL, Side.BUY, Side.SELL]
    assert ev["price"].tolist() == [22117, 22116, 22117] and ev["size"].tolist() == [3, 9, 4]
    assert ev["ts_event"].tolist()[0] == SSBOE * 10**9 + 5
