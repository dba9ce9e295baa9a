"""The views detectors read: a TradeView made from lists and one made from arrays are the same."""

from __future__ import annotations

import numpy as np

from tapeflow.signals.api import LevelsSource, TradeView

COLUMNS = {
    "ts": ([10, 11, 11], np.int64),
    "price": ([4000, 4001, 3999], np.int64),
    "size": ([1, 5, 2], np.int64),
    "side": ([1, -1, 0], np.int8),
    "signed": ([1, -5, 0], np.int64),
    "cum_delta": ([1, -4, -4], np.int64),
    "vwap": ([4000.0, 4000.8333333333335, 4000.5], np.float64),
    "vwap_sd": ([0.0, 0.37267799624996495, 0.5], np.float64),
}


def view_of(columns: dict) -> TradeView:
    c = columns
    return TradeView(c["ts"], c["price"], c["size"], c["side"], c["signed"], 3, c["cum_delta"], c["vwap"],
                     c["vwap_sd"], 0, True, False, 7, None, LevelsSource(lambda: None))


def test_list_and_array_views_agree_column_by_column():
    listed = view_of({k: v for k, (v, _) in COLUMNS.items()})
    arrays = view_of({k: np.array(v, dt) for k, (v, dt) in COLUMNS.items()})
    assert listed.few and not arrays.few
    assert len(listed) == len(arrays) == 3
    for name, (values, dtype) in COLUMNS.items():
        a, b = getattr(listed, name), getattr(arrays, name)
        assert a.dtype == b.dtype == dtype, name
        assert np.array_equal(a, b), name
        assert getattr(listed, f"{name}_list") == getattr(arrays, f"{name}_list") == values, name
        assert all(type(x) is type(values[0]) for x in getattr(arrays, f"{name}_list")), name
    assert listed.price is listed.price  # made once, then kept


def test_emit_from_a_list_view_stamps_the_trade_time_and_order():
    from tapeflow.signals.api import Detector

    det = Detector()
    det.kind = "probe"
    view = view_of({k: v for k, (v, _) in COLUMNS.items()})
    det.emit(view, side=1, price=4001, strength=1.0, index=1)
    hit = det.drain()[0]
    assert (hit.ts_ns, hit.order, hit.phase, hit.bar_start_ns) == (11, 8, 1, 0)
    assert type(hit.ts_ns) is int
