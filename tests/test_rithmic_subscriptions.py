"""Subscriptions shared by feeds on one Rithmic session: counted per update bit and per depth book."""

from __future__ import annotations

from tapeflow.rithmic.subscriptions import Subscriptions

TRADES, BBO = 1, 2


def test_bits_are_counted_one_by_one_so_one_feed_never_cancels_anothers_data():
    s = Subscriptions()
    assert s.add_market_data("ESZ6", "CME", TRADES | BBO) == TRADES | BBO  # first: subscribe both
    assert s.add_market_data("ESZ6", "CME", TRADES) == 0  # trades already flowing
    assert s.remove_market_data("ESZ6", "CME", TRADES | BBO) == BBO  # only the BBO is nobody's now
    assert s.market_data() == {("ESZ6", "CME"): TRADES}
    assert s.remove_market_data("ESZ6", "CME", TRADES) == TRADES
    assert s.remove_market_data("ESZ6", "CME", TRADES) == 0  # released twice: nothing to send
    assert s.market_data() == {}


def test_depth_is_subscribed_by_the_first_and_released_by_the_last():
    s = Subscriptions()
    assert s.add_depth("ESZ6", "CME") and not s.add_depth("ESZ6", "CME")
    assert s.depth() == [("ESZ6", "CME")]
    assert not s.remove_depth("ESZ6", "CME") and s.remove_depth("ESZ6", "CME")
    assert not s.remove_depth("ESZ6", "CME") and s.depth() == []
