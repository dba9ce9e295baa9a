"""CSV time-and-sales source: the real NQ sample, both separator styles, inference, bad rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tapeflow.core.events import Kind, Side
from tapeflow.core.timeutil import iso_to_ns
from tapeflow.errors import TapeflowError
from tapeflow.feeds.csv_file import CsvTradesSource
from tapeflow.feeds.open import open_source


def _write(tmp_path: Path, text: str, name: str = "nq_trades.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _events(src: CsvTradesSource) -> np.ndarray:
    return np.concatenate(list(src))


def _trades(src: CsvTradesSource) -> np.ndarray:
    ev = _events(src)
    return ev[ev["kind"] == Kind.TRADE]


def test_sample_has_1058_trades_of_1128_contracts(csv_file: Path) -> None:
    src = CsvTradesSource(csv_file, symbol="NQ", tz="Europe/Madrid")
    t = _trades(src)
    assert len(t) == 1058 and t["size"].sum() == 1128
    assert src.stats.malformed_total == 0 and src.stats.inferred_side == 0


def test_sample_ask_rows_are_550_buyer_trades_and_bid_rows_508_seller_trades(csv_file: Path) -> None:
    t = _trades(CsvTradesSource(csv_file, symbol="NQ", tz="Europe/Madrid"))
    assert (t["side"] == Side.BUY).sum() == 550
    assert (t["side"] == Side.SELL).sum() == 508


def test_sample_madrid_local_times_become_utc(csv_file: Path) -> None:
    src = CsvTradesSource(csv_file, symbol="NQ", tz="Europe/Madrid")
    t = _trades(src)
    assert t["ts_event"][0] == iso_to_ns("2025-10-20T16:08:56.500Z")  # CEST = UTC+2
    assert src.info.end_ns == iso_to_ns("2025-10-20T16:11:00.585Z")


def test_sample_first_row_dom_becomes_30_bid_and_30_ask_levels(csv_file: Path) -> None:
    ev = _events(CsvTradesSource(csv_file, symbol="NQ", tz="Europe/Madrid"))
    first = ev[ev["sequence"] == 2]
    lv = first[first["kind"] == Kind.LEVEL]
    assert (lv["side"] == Side.BUY).sum() == 30 and (lv["side"] == Side.SELL).sum() == 30
    assert lv["price"][0] == 101254 and lv["size"][0] == 6  # 25313.50 x 6, the best bid
    assert first["kind"][-1] == Kind.TRADE


def test_semicolon_file_with_decimal_commas_and_spanish_headers(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "Timestamp;Precio;Volumen;Lado;Bid;Ask\n"
        "2025-10-09 06:00:04.268;25327;1;BID;25327;25327,5\n"
        "2025-10-09 06:00:04.300;25327,25;3;ASK;25327;25327,5\n",
    )
    t = _trades(CsvTradesSource(p, tz="Europe/Madrid"))
    assert t["price"].tolist() == [101308, 101309]  # 25327.00 and 25327.25 in NQ ticks
    assert t["size"].tolist() == [1, 3]
    assert t["side"].tolist() == [Side.SELL, Side.BUY]
    assert t["ts_event"][0] == iso_to_ns("2025-10-09T04:00:04.268Z")


def test_missing_side_is_inferred_from_bid_ask_then_tick_rule_and_noted(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "time,price,qty,bid,ask\n"
        "2025-01-02T15:00:00Z,100.25,1,100.00,100.25\n"  # at the ask: buyer
        "2025-01-02T15:00:01Z,100.00,2,100.00,100.25\n"  # at the bid: seller
        "2025-01-02T15:00:02Z,100.50,1,,\n"  # no quote, uptick: buyer
        "2025-01-02T15:00:03Z,100.50,1,,\n"  # zero tick keeps buyer
        "2025-01-02T15:00:04Z,100.25,1,,\n",  # downtick: seller
    )
    src = CsvTradesSource(p, symbol="ES")
    t = _trades(src)
    assert t["side"].tolist() == [Side.BUY, Side.SELL, Side.BUY, Side.BUY, Side.SELL]
    assert src.stats.inferred_side == 5
    assert any("2 from bid/ask, 3 by the tick rule" in n for n in src.info.notes)


def test_bad_rows_are_counted_by_reason_with_their_line_numbers(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "timestamp,price,size,side\n"
        "2025-01-02 15:00:00,5000.25,1,BUY\n"
        "2025-01-02 15:00:01,abc,1,BUY\n"  # line 3
        "2025-01-02 15:00:02,5000.25,-4,SELL\n"  # line 4
        "2025-01-02 15:00:03,5000.25\n"  # line 5
        "2025-01-02 15:00:04,5000.10,1,SELL\n"  # line 6
        "not a time,5000.25,1,SELL\n"  # line 7
        "2025-01-02 15:00:05,5000.50,2,sell\n",
    )
    src = CsvTradesSource(p, symbol="ES")
    t = _trades(src)
    assert len(t) == 2 and t["side"].tolist() == [Side.BUY, Side.SELL]
    assert src.stats.malformed == {
        "bad number in price": 1,
        "negative size": 1,
        "missing field": 1,
        "off-tick price": 1,
        "bad timestamp": 1,
    }
    assert [line for line, _ in src.bad_rows] == [3, 4, 5, 6, 7]


def test_dom_level_that_disappears_is_sent_with_size_zero(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        'timestamp,price,size,side,dom_bid,dom_ask\n'
        '2025-01-02 15:00:00,10.25,1,ASK,{"10.0": 5, "9.75": 2},{"10.25": 3}\n'
        '2025-01-02 15:00:01,10.25,1,ASK,{"10.0": 5},{"10.25": 1}\n',
    )
    ev = _events(CsvTradesSource(p, symbol="ES"))
    second = ev[(ev["sequence"] == 3) & (ev["kind"] == Kind.LEVEL)]
    rows = list(zip(second["side"].tolist(), second["price"].tolist(), second["size"].tolist(), strict=True))
    assert rows == [(Side.BUY, 39, 0), (Side.SELL, 41, 1)]  # 9.75 bid gone; 10.25 ask now 1


def test_a_and_b_side_letters_read_as_ask_and_bid(tmp_path: Path) -> None:
    p = _write(tmp_path, "ts,price,size,side\n1735830000,10.00,1,A\n1735830001,10.00,1,B\n")
    src = CsvTradesSource(p, symbol="ES")
    t = _trades(src)
    assert t["side"].tolist() == [Side.BUY, Side.SELL]
    assert t["ts_event"][0] == 1735830000 * 1_000_000_000  # epoch seconds
    assert any("'B' read as bid" in n for n in src.info.notes)


def test_unknown_instrument_is_a_user_error_asking_for_a_symbol(tmp_path: Path) -> None:
    p = _write(tmp_path, "ts,price,size\n1,1,1\n", name="trades.csv")
    with pytest.raises(TapeflowError, match="pass symbol="):
        CsvTradesSource(p)


def test_open_source_picks_the_csv_adapter_and_names_missing_files(csv_file: Path) -> None:
    src = open_source(str(csv_file), symbol="NQ", tz="Europe/Madrid")
    assert isinstance(src, CsvTradesSource)
    with pytest.raises(TapeflowError, match="no_such_file"):
        open_source("/tmp/no_such_file.csv")
