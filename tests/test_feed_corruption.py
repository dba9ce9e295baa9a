"""Hostile input to the file readers: every bad record is counted and skipped, good ones kept,
nothing raises but a clear ``TapeflowError``, and nothing allocates by price range."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapeflow.cli import main
from tapeflow.core.events import Kind, Side, make_trades
from tapeflow.errors import TapeflowError
from tapeflow.feeds.csv_file import OUT_OF_ORDER, CsvTradesSource
from tapeflow.feeds.dbn_file import DbnFileSource
from tapeflow.flow.bars import parse_bar_spec
from tapeflow.flow.book import OrderBook
from tapeflow.flow.footprint_batch import build_footprint
from tapeflow.flow.profile import VolumeProfile
from tapeflow.flow.span import MAX_SPAN_TICKS
from tapeflow.trading.paper_book import PaperBook
from tapeflow.trading.testing import es_request, fill_list, paper_account

HEADER = "timestamp,price,size,side\n"
GOOD = "2025-01-02 15:00:{s:02d},5000.25,1,BUY\n"


def _events(src) -> np.ndarray:
    return np.concatenate(list(src))


def _trades(src) -> np.ndarray:
    ev = np.concatenate(list(src))
    return ev[ev["kind"] == Kind.TRADE]


# ------------------------------------------------------------------ DBN: one corrupt trade price


def _mbp1_with_trade_price(mbp1_file: Path, tmp_path: Path, price_nanos: int) -> Path:
    """The real mbp-1 file, raw, with the first trade's price replaced."""
    raw = zstandard.ZstdDecompressor().stream_reader(mbp1_file.open("rb")).read()
    (length,) = struct.unpack_from("<I", raw, 4)
    body = bytearray(raw[8 + length :])
    first_trade = next(i for i in range(0, len(body), 80) if body[i + 28] == ord("T"))
    struct.pack_into("<q", body, first_trade + 16, price_nanos)
    out = tmp_path / "corrupt_ES.dbn"
    out.write_bytes(raw[: 8 + length] + bytes(body))
    return out


@pytest.mark.parametrize(
    ("price_nanos", "reason"),
    [
        (2 * 10**18, "implausible price (above 1,000,000 points)"),
        (10**16, "implausible price (above 1,000,000 points)"),
        (2_000 * 10**9, "implausible price (more than 50% from the median)"),
        (0, "non-positive price"),
        (-(10**9), "non-positive price"),
    ],
)
def test_dbn_trade_with_implausible_price_is_one_malformed_record(mbp1_file, tmp_path, price_nanos, reason):
    src = DbnFileSource(_mbp1_with_trade_price(mbp1_file, tmp_path, price_nanos))
    t = _trades(src)
    assert src.stats.malformed == {reason: 1}
    assert len(t) == 119  # 120 trades in the file, one of them corrupted
    assert t["price"].min() >= 22114 and t["price"].max() <= 22118  # 5528.50 .. 5529.50


def test_signals_on_a_dbn_with_an_absurd_price_reports_it_and_allocates_nothing_huge(mbp1_file, tmp_path, capsys):
    path = _mbp1_with_trade_price(mbp1_file, tmp_path, 2 * 10**18)  # was 24 GB of profile
    assert main(["signals", str(path)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "1 malformed records skipped (2,288 read): implausible price (above 1,000,000 points) x1" in out


def test_mbo_stub_orders_far_from_the_market_are_kept(mbo_file):
    """Real MBO books hold resting bids at 493.50 with ES at 5200: only trades get the band."""
    src = DbnFileSource(mbo_file)
    ev = _events(src)
    assert src.stats.malformed_total == 0
    assert ev["price"][ev["kind"] == Kind.ORDER].min() == 1974  # 493.50 in ES ticks


# ------------------------------------------------------------------ flow: no dense span past the limit


def test_profile_and_footprint_refuse_a_span_past_the_limit_instead_of_allocating():
    ts = np.array([0, 1], np.int64) + 1_735_830_000 * 10**9
    far = make_trades(ts, np.array([20_000, 20_000 + MAX_SPAN_TICKS]), np.ones(2, np.int32), np.ones(2))
    with pytest.raises(TapeflowError, match="volume profile would span 262,145 ticks"):
        VolumeProfile.from_trades(far)
    with pytest.raises(TapeflowError, match="footprint bar would span 262,145 ticks"):
        build_footprint(far, parse_bar_spec("1m"))


# ------------------------------------------------------------------ CSV: each kind of bad row


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (b"2025-01-02 15:00:30,inf,1,BUY\n", "bad number in price"),
        (b"2025-01-02 15:00:30,NaN,1,BUY\n", "bad number in price"),
        (b"2025-01-02 15:00:30,5000.25,nan,BUY\n", "bad number in size"),
        (b"2025-01-02 15:00:30,1e999999999,1,BUY\n", "number out of range in price"),
        (b"2025-01-02 15:00:30,5000.25,99999999,BUY\n", "implausible size"),
        (b"2025-01-02 15:00:30," + b"9" * 200_000 + b",1,BUY\n", "unreadable CSV row (field too large or bad quoting)"),
        (b"2025-01-02 15:00:30,5000.25,1,BUY," + b"x" * (1 << 21) + b"\n", "line longer than 1,048,576 bytes"),
        (b"2025-01-02 15:00:30,\xff\xfe5000.25,1,BUY\n", "line is not UTF-8 text"),
        (b"9999-12-31 23:59:59,5000.25,1,BUY\n", "timestamp out of range (before 1980 or in the future)"),
        (b"99999999999999999999999,5000.25,1,BUY\n", "timestamp out of range (before 1980 or in the future)"),
        (b"99999-01-02 15:00:30,5000.25,1,BUY\n", "bad timestamp"),
        (b"2025-01-02 15:00:30,0,1,BUY\n", "non-positive price"),
        (b"2025-01-02 15:00:30,-1,1,BUY\n", "non-positive price"),
        (b"2025-01-02 15:00:30,9000.25,1,BUY\n", "implausible price (more than 50% from the median)"),
        (b"2025-01-02 14:00:00,5000.25,1,BUY\n", OUT_OF_ORDER),
    ],
)
def test_csv_bad_row_is_counted_by_reason_and_the_good_rows_kept(tmp_path, row, reason):
    p = tmp_path / "es_trades.csv"
    p.write_bytes((HEADER + GOOD.format(s=10) + GOOD.format(s=20)).encode() + row + GOOD.format(s=40).encode())
    src = CsvTradesSource(p, symbol="ES")
    t = _trades(src)
    assert len(t) == 3 and set(t["price"].tolist()) == {20001}
    assert src.stats.malformed == {reason: 1}
    assert src.bad_rows == [(4, reason)]


def test_csv_dom_with_non_finite_or_bad_levels_is_a_malformed_row(tmp_path):
    p = tmp_path / "es_dom.csv"
    p.write_text(
        "timestamp,price,size,side,dom_bid,dom_ask\n"
        '2025-01-02 15:00:00,5000.25,1,ASK,{"5000.0": 1e999},{"5000.25": 3}\n'
        '2025-01-02 15:00:01,5000.25,1,ASK,{"5000.0": 2.5},{"5000.25": 3}\n'
        '2025-01-02 15:00:02,5000.25,1,ASK,{"-5000.0": 2},{"5000.25": 3}\n'
        '2025-01-02 15:00:03,5000.25,1,ASK,{"5000.0": ' + "[" * 100_000 + "]" * 100_000 + '},{"5000.25": 3}\n'
        '2025-01-02 15:00:04,5000.25,1,ASK,{"5000.0": 2},{"5000.25": 3}\n'
    )
    src = CsvTradesSource(p, symbol="ES")
    assert len(_trades(src)) == 1
    assert src.stats.malformed == {
        "bad number in dom_bid": 1,
        "fractional or implausible size in dom_bid": 1,
        "non-positive price": 1,
        "unreadable dom_bid JSON": 1,
    }


def test_csv_header_that_is_not_utf8_is_one_clear_error(tmp_path):
    p = tmp_path / "es.csv"
    p.write_bytes(b"\xff\xfeT\x00i\x00m\x00e\x00\n")
    with pytest.raises(TapeflowError, match="cannot read the CSV header: line is not UTF-8 text"):
        CsvTradesSource(p, symbol="ES")


def test_info_counts_csv_rows_out_of_time_order(tmp_path, capsys):
    p = tmp_path / "es.csv"
    p.write_text(HEADER + "2024-11-04 15:00:00,5000.25,1,BUY\n2023-01-01 15:00:00,5000.25,1,BUY\n"
                 "2024-11-04 15:00:01,5000.50,1,BUY\n")
    assert main(["info", str(p), "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["out_of_order"] == 1 and d["trades"] == 2 and d["start"].startswith("2024-11-04")
    assert main(["info", str(p)]) == 0
    assert "out of order 1 rows earlier than the row before them" in " ".join(capsys.readouterr().out.split())


# ------------------------------------------------------------------ silent loss is not success


def test_footprint_and_signals_on_a_truncated_file_exit_2_naming_the_loss(mbp1_file, tmp_path, capsys):
    cut = tmp_path / "cut.dbn.zst"
    cut.write_bytes(mbp1_file.read_bytes()[:3000])
    for command in ("footprint", "signals"):
        assert main([command, str(cut)]) == 2
        err = capsys.readouterr().err
        assert "no usable trades; 1 malformed records skipped" in err
        assert "compressed data cut off (file truncated)" in err


def test_footprint_json_reports_malformed_counts_on_stderr(mbp1_file, tmp_path, capsys):
    path = _mbp1_with_trade_price(mbp1_file, tmp_path, 0)
    assert main(["footprint", str(path), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert all("start_ns" in json.loads(line) for line in out.splitlines())
    assert json.loads(err) == {"source": str(path), "records": 2288, "malformed": 1,
                               "malformed_reasons": {"non-positive price": 1}}


def test_empty_but_clean_file_still_says_no_trades_and_succeeds(tmp_path, capsys):
    p = tmp_path / "es.csv"
    p.write_text(HEADER)
    assert main(["footprint", str(p), "--symbol", "ES"]) == 0
    assert "no trades in this source" in capsys.readouterr().out


# ------------------------------------------------------------------ CSV DOM: one slot per level


def _dom_csv_events(tmp_path: Path, *rows: str) -> np.ndarray:
    """Events of an ES CSV with DOM columns holding ``rows`` (each 'time,price,size,side,bid,ask')."""
    p = tmp_path / "es_dom.csv"
    p.write_text("timestamp,price,size,side,dom_bid,dom_ask\n" + "".join(r + "\n" for r in rows))
    return _events(CsvTradesSource(p, symbol="ES"))


def test_csv_dom_levels_each_price_its_own_level_and_a_market_buy_takes_the_best_ask(tmp_path):
    ev = _dom_csv_events(
        tmp_path,
        '2025-01-02 15:00:00,5000.25,1,ASK,{"4999.75": 7, "5000.0": 5, "4999.5": 2},'
        '{"5000.75": 9, "5000.25": 3, "5000.5": 4}',
    )
    lv = ev[ev["kind"] == Kind.LEVEL]
    got = list(zip(lv["side"].tolist(), lv["price"].tolist(), lv["size"].tolist(), strict=True))
    assert got == [
        (Side.BUY, 20000, 5), (Side.BUY, 19999, 7), (Side.BUY, 19998, 2),
        (Side.SELL, 20001, 3), (Side.SELL, 20002, 4), (Side.SELL, 20003, 9),
    ]
    book = OrderBook()
    book.apply(ev)
    assert book.best_bid() == (20000, 5) and book.best_ask() == (20001, 3)
    assert book.depth(3).ask_price.tolist() == [20001, 20002, 20003]
    acct, order_events = paper_account(slippage_ticks=0)
    acct.on_events(ev)
    one = acct.submit(es_request(Side.BUY)).order_id
    four = acct.submit(es_request(Side.BUY, 4)).order_id
    # the best ask (5000.25), never the deepest (5000.75); 4 lots walk 2 at 5000.25 (one went) and 2 at 5000.50
    assert fill_list(order_events) == [(one, 1, 20001), (four, 2, 20001), (four, 2, 20002)]


def test_csv_dom_price_that_leaves_the_book_is_sent_with_size_zero(tmp_path):
    ev = _dom_csv_events(
        tmp_path,
        '2025-01-02 15:00:00,5000.25,1,ASK,{"5000.0": 5, "4999.75": 2},{"5000.25": 3}',
        '2025-01-02 15:00:01,5000.25,1,ASK,{"4999.75": 2},{"5000.25": 3}',
    )
    second = ev[(ev["sequence"] == 3) & (ev["kind"] == Kind.LEVEL)]
    assert list(zip(second["price"].tolist(), second["size"].tolist(), strict=True)) == [(20000, 0)]
    book = OrderBook()
    book.apply(ev)
    assert book.best_bid() == (19999, 2) and book.depth(5).bid_price.tolist() == [19999]


def test_real_nq_csv_book_touch_is_the_best_of_30_levels(csv_file):
    ev = _events(CsvTradesSource(csv_file, symbol="NQ", tz="Europe/Madrid"))
    first = ev[(ev["sequence"] == 2) & (ev["kind"] == Kind.LEVEL)]
    bids, asks = first[first["side"] == Side.BUY], first[first["side"] == Side.SELL]
    assert len(np.unique(bids["price"])) == 30 and len(np.unique(asks["price"])) == 30  # 30 levels a side
    paper = PaperBook()
    for row in first:
        paper.level(int(row["side"]), int(row["level"]), int(row["price"]), int(row["size"]))
    best_ask, deepest_ask = int(asks["price"].min()), int(asks["price"].max())
    assert deepest_ask - best_ask == 29  # the 29 ticks a buy lost when the levels shared one slot
    assert paper.take_levels(Side.BUY)[0] == (best_ask, int(asks["size"][asks["price"] == best_ask][0]))
    assert paper.take_levels(Side.SELL)[0][0] == int(bids["price"].max()) == 101254  # 25313.50
    book = OrderBook()
    book.apply(first)
    assert book.best_ask()[0] == best_ask and book.best_bid()[0] == 101254


# ------------------------------------------------------------------ fuzz


_BAD_VALUES = st.sampled_from(["inf", "-inf", "nan", "NaN", "1e999999", "0", "-1", "", "abc", "9" * 60, "1e-999999"])
_GARBAGE = st.one_of(
    st.binary(min_size=1, max_size=200).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"") + b"\xff,\xfe"),
    st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=120).map(str.encode),
    st.text(st.sampled_from('{}[]",:;.0123456789\x00-eE'), max_size=80).map(
        lambda t: f"2025-01-02 15:00:30,5000.25,1,BUY,[{t}".encode()  # a DOM column that is no object
    ),
    st.tuples(_BAD_VALUES, st.sampled_from(["price", "size", "ts"])).map(
        lambda vf: (
            f"2025-01-02 15:00:30,{vf[0]},1,BUY" if vf[1] == "price"
            else f"2025-01-02 15:00:30,5000.25,{vf[0]},BUY" if vf[1] == "size"
            else f"{vf[0] or 'x'}x,5000.25,1,BUY"
        ).encode()
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(good=st.integers(1, 30), garbage=st.lists(st.tuples(st.integers(0, 30), _GARBAGE), max_size=12))
def test_fuzzed_csv_never_raises_counts_every_bad_line_and_keeps_every_good_one(tmp_path, good, garbage):
    lines = [f"2025-01-02 15:00:{i:02d},{5000 + i * 0.25:.2f},{i + 1},BUY,,".encode() for i in range(good)]
    for at, junk in sorted(garbage, key=lambda g: -g[0]):
        lines.insert(min(at, len(lines)), junk)
    p = tmp_path / "es_fuzz.csv"
    p.write_bytes(b"timestamp,price,size,side,dom_bid,dom_ask\n" + b"\n".join(lines) + b"\n")
    src = CsvTradesSource(p, symbol="ES")
    t = _trades(src)
    assert t["size"].tolist() == list(range(1, good + 1))  # every good row, in order
    assert src.stats.malformed_total == sum(1 for _, j in garbage if _not_blank(j))


def _not_blank(line: bytes) -> bool:
    """What the reader counts: every line but a blank one (undecodable lines are never blank)."""
    try:
        return bool(line.decode().strip())
    except UnicodeDecodeError:
        return True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 2287 * 80 - 1), st.integers(0, 7)), min_size=1, max_size=8))
def test_fuzzed_dbn_bit_flips_never_raise_and_lose_only_the_hit_records(mbp1_file, tmp_path, flips):
    raw = zstandard.ZstdDecompressor().stream_reader(mbp1_file.open("rb")).read()
    (length,) = struct.unpack_from("<I", raw, 4)
    body = bytearray(raw[8 + length :])
    for offset, bit in flips:
        body[offset] ^= 1 << bit
    p = tmp_path / "fuzz_ES.dbn"
    p.write_bytes(raw[: 8 + length] + bytes(body))
    src = DbnFileSource(p)
    ev = _events(src)
    t = ev[ev["kind"] == Kind.TRADE]
    assert len(t) >= 120 - 2 * len(flips)  # a hit record, and at most its neighbour while resynchronizing
    assert src.stats.malformed_total <= 2 * len(flips)
    prices = t["price"][t["price"] > 0]
    assert len(prices) == len(t) and np.all(np.abs(prices - 22116) <= 22116 // 2)
    build_footprint(ev, parse_bar_spec("1m"))  # bounded by construction: no exception, no huge array


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 43_597), st.integers(0, 7)), min_size=1, max_size=4))
def test_fuzzed_compressed_bytes_give_a_clear_error_or_counted_loss_never_silence(mbp1_file, tmp_path, flips):
    data = bytearray(mbp1_file.read_bytes())
    for offset, bit in flips:
        data[offset] ^= 1 << bit
    p = tmp_path / "fuzz_ES.dbn.zst"
    p.write_bytes(bytes(data))
    try:
        src = DbnFileSource(p)
        list(src)
    except TapeflowError as e:
        assert str(e).startswith(str(p))  # one line naming the file
        return
    assert src.stats.trades == 120 or src.stats.malformed_total > 0  # anything lost is counted


def test_corrupt_block_keeps_the_records_decoded_before_it(mbp1_file, tmp_path):
    data = bytearray(mbp1_file.read_bytes())
    data[-100] ^= 0xFF  # inside the last compressed block
    p = tmp_path / "late_ES.dbn.zst"
    p.write_bytes(bytes(data))
    src = DbnFileSource(p)
    list(src)
    assert "corrupt compressed data (the rest of the file is unreadable)" in src.stats.malformed
    assert 0 < src.stats.trades < 120


def test_rows_dated_ahead_that_hide_the_rest_of_the_file_are_named_in_a_note(tmp_path):
    ahead = ["2025-01-09 15:00:00,5000.25,1,BUY\n", "2025-01-09 15:00:01,5000.25,1,BUY\n"]  # lines 3, 4
    rows = [GOOD.format(s=0), *ahead] + [GOOD.format(s=i) for i in range(1, 21)]
    p = tmp_path / "es.csv"
    p.write_text(HEADER + "".join(rows))
    src = CsvTradesSource(p, symbol="ES")
    assert len(_trades(src)) == 3 and src.stats.malformed == {OUT_OF_ORDER: 20}  # two rows ahead: both kept
    assert "20 rows are earlier than line 3: if that row's timestamp is wrong, fix or delete it" in src.info.notes


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hits=st.lists(st.tuples(st.integers(0, 952_586), st.integers(0, 255)), min_size=1, max_size=30))
def test_fuzzed_real_nq_csv_bytes_every_row_is_a_trade_or_counted(csv_file, tmp_path, hits):
    data = bytearray(csv_file.read_bytes())
    for offset, value in hits:
        data[offset % len(data)] = value
    p = tmp_path / "fuzz_nq.csv"
    p.write_bytes(bytes(data))
    try:
        src = CsvTradesSource(p, symbol="NQ", tz="Europe/Madrid")
        list(src)
    except TapeflowError as e:  # only a damaged header may stop the read
        assert "header" in str(e) or "no column" in str(e)
        return
    assert src.stats.trades + src.stats.malformed_total == src.stats.records
    assert src.stats.trades >= 1058 - 2 * len(hits)  # a hit costs its row, and the next if it hit a newline


def test_one_row_dated_ahead_costs_that_row_only(tmp_path):
    """A flipped digit in one timestamp must not make every later row 'out of order'."""
    rows = [GOOD.format(s=i) for i in range(0, 10)]
    rows.insert(4, "2025-01-02 15:50:03,5000.25,1,BUY\n")  # line 6: a flipped digit (15:00:03 -> 15:50:03)
    p = tmp_path / "es.csv"
    p.write_text(HEADER + "".join(rows))
    src = CsvTradesSource(p, symbol="ES")
    t = _trades(src)
    assert len(t) == 10 and np.all(np.diff(t["ts_event"]) > 0)
    assert src.stats.malformed == {OUT_OF_ORDER: 1} and src.bad_rows == [(6, OUT_OF_ORDER)]


@pytest.mark.parametrize(
    ("seconds", "kept", "late_lines"),
    [
        ([0, 1, 2, 3], [0, 1, 2, 3], []),
        ([0, 1, 50, 2, 3], [0, 1, 2, 3], [4]),  # dated ahead: line 4 dropped
        ([0, 1, -50, 2, 3], [0, 1, 2, 3], [4]),  # dated back (a 2023 print in a 2024 file)
        ([50, 1, 2], [1, 2], [2]),  # the first row dated ahead
        ([0, 50, 1], [0, 50], [4]),  # at the end nothing judges the last inversion: the later row goes
        ([0, 5, 5, 1, 6], [0, 5, 5, 6], [5]),  # equal times are in order
    ],
)
def test_time_order_drops_the_row_that_breaks_it(tmp_path, seconds, kept, late_lines):
    base = 600  # 15:10:00, so -50 s stays the same day
    p = tmp_path / "es.csv"
    p.write_text(HEADER + "".join(f"2025-01-02 15:{(base + s) // 60:02d}:{(base + s) % 60:02d},5000.25,1,BUY\n"
                                  for s in seconds))
    src = CsvTradesSource(p, symbol="ES")
    t = _trades(src)
    assert ((t["ts_event"] - t["ts_event"][0]) // 10**9 + (kept[0])).tolist() == kept
    assert [line for line, _ in src.bad_rows] == late_lines
