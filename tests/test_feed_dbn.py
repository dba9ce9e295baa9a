"""DBN file source: counts on the real files, a record-by-record cross-check against the official
decoder, and hand-made broken files (built by slicing the real file's bytes)."""

from __future__ import annotations

import struct
from pathlib import Path

import databento_dbn as dbn
import numpy as np
import pytest
import zstandard

from tapeflow.core.events import NO_PRICE, Flag, Kind, Side
from tapeflow.core.timeutil import iso_to_ns, ns_to_iso
from tapeflow.errors import TapeflowError
from tapeflow.feeds.dbn_file import DbnFileSource, record_dtype

ES_TICK_NANOS = 250_000_000


def _decompressed(path: Path) -> bytes:
    with path.open("rb") as f:
        return zstandard.ZstdDecompressor().stream_reader(f).read()


def _split_header(raw: bytes) -> tuple[bytes, bytes]:
    (length,) = struct.unpack_from("<I", raw, 4)
    return raw[: 8 + length], raw[8 + length :]


def _decoded(path: Path) -> list:
    dec = dbn.DBNDecoder()
    dec.write(_decompressed(path))
    return dec.decode()[1:]


def _events(source: DbnFileSource) -> np.ndarray:
    return np.concatenate(list(source))


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _ticks(price_nanos: int) -> int:
    return NO_PRICE if price_nanos == dbn.UNDEF_PRICE else price_nanos // ES_TICK_NANOS


# ------------------------------------------------------------------------------------ real files


def test_mbp1_file_has_2288_records_and_120_trades_of_253_contracts(mbp1_file: Path) -> None:
    src = DbnFileSource(mbp1_file)
    ev = _events(src)
    trades = ev[ev["kind"] == Kind.TRADE]
    assert src.stats.records == 2288
    assert len(trades) == 120 and trades["size"].sum() == 253
    assert src.stats.trades == 120 and src.stats.trade_volume == 253
    assert src.stats.malformed_total == 0


def test_mbp1_aggressors_split_66_buys_of_142_and_54_sells_of_111(mbp1_file: Path) -> None:
    ev = _events(DbnFileSource(mbp1_file))
    trades = ev[ev["kind"] == Kind.TRADE]
    buys, sells = trades[trades["side"] == Side.BUY], trades[trades["side"] == Side.SELL]
    assert (len(buys), buys["size"].sum()) == (66, 142)
    assert (len(sells), sells["size"].sum()) == (54, 111)


def test_mbp1_trades_run_from_5528_50_to_5529_50_in_es_ticks(mbp1_file: Path) -> None:
    ev = _events(DbnFileSource(mbp1_file))
    prices = ev["price"][ev["kind"] == Kind.TRADE]
    assert prices.min() == 22114  # 5528.50 / 0.25
    assert prices.max() == 22118  # 5529.50 / 0.25


def test_mbp1_info_names_esu4_as_es_with_its_instrument_id_and_time_span(mbp1_file: Path) -> None:
    src = DbnFileSource(mbp1_file)
    assert src.info.schema == "mbp-1" and src.info.symbols == ["ESU4"]
    assert src.info.instrument.root == "ES" and src.info.instrument_ids == {118: "ESU4"}
    list(src)
    assert src.info.start_ns == iso_to_ns("2024-07-01T23:58:01.218218853Z")
    assert ns_to_iso(src.info.end_ns).startswith("2024-07-02T00:01:59.824")


def test_mbp1_emits_a_level_row_only_when_that_side_of_the_bbo_changes(mbp1_file: Path) -> None:
    ev = _events(DbnFileSource(mbp1_file))
    for side in (Side.BUY, Side.SELL):
        lv = ev[(ev["kind"] == Kind.LEVEL) & (ev["side"] == side)]
        assert (lv["level"] == 0).all()
        same = (
            (lv["price"][1:] == lv["price"][:-1])
            & (lv["size"][1:] == lv["size"][:-1])
            & (lv["count"][1:] == lv["count"][:-1])
        )
        assert not same.any()


def test_mbo_file_has_five_buy_trades_of_six_contracts_at_5214_25(mbo_file: Path) -> None:
    src = DbnFileSource(mbo_file)
    ev = _events(src)
    trades = ev[ev["kind"] == Kind.TRADE]
    assert src.stats.records == 13796
    assert len(trades) == 5 and trades["size"].sum() == 6
    assert (trades["side"] == Side.BUY).all()
    assert (trades["price"] == 20857).all()  # 5214.25 / 0.25


def test_mbo_fills_are_order_rows_not_trades(mbo_file: Path) -> None:
    ev = _events(DbnFileSource(mbo_file))
    fills = ev[ev["action"] == ord("F")]
    assert len(fills) == 5
    assert (fills["kind"] == Kind.ORDER).all()


def test_mbo_clear_then_snapshot_rows_carry_the_snapshot_flag(mbo_file: Path) -> None:
    ev = _events(DbnFileSource(mbo_file))
    assert ev["kind"][0] == Kind.CLEAR
    snap = (ev["flags"] & Flag.SNAPSHOT) != 0
    assert snap.sum() == 13601  # the clear and 13,600 adds
    assert snap[:13601].all() and not snap[13601:].any()
    assert (ev["flags"][13600] & Flag.LAST) != 0  # the last snapshot record ends a packet


# ------------------------------------------------------------------------------------ cross-check


def test_record_layout_matches_the_decoder_field_by_field(mbp1_file: Path, mbo_file: Path) -> None:
    for path, schema in ((mbp1_file, "mbp-1"), (mbo_file, "mbo")):
        _, body = _split_header(_decompressed(path))
        recs = np.frombuffer(body, dtype=record_dtype(schema))
        objs = _decoded(path)
        assert len(recs) == len(objs)
        for r, o in zip(recs, objs, strict=True):
            assert int(r["ts_event"]) == o.ts_event and int(r["ts_recv"]) == o.ts_recv
            assert int(r["price"]) == o.price and int(r["size"]) == o.size
            assert chr(r["action"]) == str(o.action) and chr(r["side"]) == str(o.side)
            assert int(r["flags"]) == int(o.flags) and int(r["sequence"]) == o.sequence
            assert int(r["instrument_id"]) == o.instrument_id
            if schema == "mbo":
                assert int(r["order_id"]) == o.order_id
            else:
                lv = r["levels"][0]
                assert int(lv["bid_px"]) == o.bid_px_00 and int(lv["ask_px"]) == o.ask_px_00
                assert int(lv["bid_sz"]) == o.bid_sz_00 and int(lv["ask_ct"]) == o.ask_ct_00


def test_mbp1_events_agree_with_decoder_on_every_trade_and_pre_trade_bbo(mbp1_file: Path) -> None:
    ev = _events(DbnFileSource(mbp1_file, batch_size=97))  # odd batch size: state crosses chunks
    objs = _decoded(mbp1_file)
    bbo = {Side.BUY: None, Side.SELL: None}
    trades = iter(o for o in objs if str(o.action) == "T")
    for row in ev:
        if row["kind"] == Kind.LEVEL:
            bbo[int(row["side"])] = (int(row["price"]), int(row["size"]), int(row["count"]))
        elif row["kind"] == Kind.TRADE:
            o = next(trades)
            assert (int(row["ts_event"]), int(row["ts_recv"])) == (o.ts_event, o.ts_recv)
            assert int(row["price"]) == _ticks(o.price) and int(row["size"]) == o.size
            assert int(row["side"]) == {"B": Side.BUY, "A": Side.SELL, "N": Side.NONE}[str(o.side)]
            assert bbo[Side.BUY] == (_ticks(o.bid_px_00), o.bid_sz_00, o.bid_ct_00)
            assert bbo[Side.SELL] == (_ticks(o.ask_px_00), o.ask_sz_00, o.ask_ct_00)
    last = objs[-1]
    assert bbo[Side.BUY] == (_ticks(last.bid_px_00), last.bid_sz_00, last.bid_ct_00)
    assert bbo[Side.SELL] == (_ticks(last.ask_px_00), last.ask_sz_00, last.ask_ct_00)


def test_mbo_events_agree_with_decoder_on_every_record(mbo_file: Path) -> None:
    ev = _events(DbnFileSource(mbo_file, batch_size=1000))
    objs = _decoded(mbo_file)
    assert len(ev) == len(objs)
    sides = {"B": Side.BUY, "A": Side.SELL, "N": Side.NONE}
    for row, o in zip(ev, objs, strict=True):
        assert int(row["ts_event"]) == o.ts_event and int(row["ts_recv"]) == o.ts_recv
        assert int(row["order_id"]) == o.order_id and int(row["size"]) == o.size
        assert int(row["price"]) == _ticks(o.price) and int(row["side"]) == sides[str(o.side)]
        assert chr(row["action"]) == str(o.action)


def test_small_batches_give_the_same_events_as_one_big_batch(mbp1_file: Path) -> None:
    whole = _events(DbnFileSource(mbp1_file))
    pieces = list(DbnFileSource(mbp1_file, batch_size=10))
    assert len(pieces) > 100
    assert np.array_equal(np.concatenate(pieces), whole)


def test_raw_dbn_is_detected_by_magic_bytes_whatever_the_name(mbp1_file: Path, tmp_path: Path) -> None:
    raw = _write(tmp_path, "data.bin", _decompressed(mbp1_file))
    zst = _write(tmp_path, "renamed.csv", mbp1_file.read_bytes())
    assert DbnFileSource(raw).info.schema == "mbp-1"
    assert np.array_equal(_events(DbnFileSource(zst)), _events(DbnFileSource(raw)))


# ------------------------------------------------------------------------------------ bad files


def test_truncated_final_record_is_counted_and_the_rest_kept(mbp1_file: Path, tmp_path: Path) -> None:
    head, body = _split_header(_decompressed(mbp1_file))
    p = _write(tmp_path, "cut.dbn", head + body[: 10 * 80 + 30])
    src = DbnFileSource(p)
    list(src)
    assert src.stats.records == 10
    assert src.stats.malformed == {"truncated final record": 1}


def test_garbage_appended_is_counted_and_every_real_trade_survives(mbp1_file: Path, tmp_path: Path) -> None:
    head, body = _split_header(_decompressed(mbp1_file))
    garbage = np.random.default_rng(7).integers(0, 256, 333, dtype=np.uint8).tobytes()
    src = DbnFileSource(_write(tmp_path, "junk.dbn", head + body + garbage))
    list(src)
    assert src.stats.trades == 120 and src.stats.trade_volume == 253
    assert src.stats.malformed_total >= 1


def test_garbage_in_the_middle_is_skipped_and_reading_resumes(mbp1_file: Path, tmp_path: Path) -> None:
    head, body = _split_header(_decompressed(mbp1_file))
    junk = b"\xff" * 37
    src = DbnFileSource(_write(tmp_path, "mid.dbn", head + body[:800] + junk + body[800:]))
    list(src)
    assert src.stats.records == 2288
    assert src.stats.malformed == {"unreadable bytes (bad record length or type)": 1}


def test_a_record_of_another_schema_is_counted_by_type(mbp1_file: Path, tmp_path: Path) -> None:
    head, body = _split_header(_decompressed(mbp1_file))
    mbo = dbn.MBOMsg(1, 118, 1, 42, 5528_500_000_000, 1, dbn.Action.ADD, dbn.Side.BID, 2)
    src = DbnFileSource(_write(tmp_path, "mixed.dbn", head + body[:160] + bytes(mbo) + body[160:]))
    list(src)
    assert src.stats.records == 2288
    assert src.stats.malformed == {"record type 0xa0 is not mbp-1": 1}


def test_off_tick_price_is_malformed_not_rounded(mbo_file: Path, tmp_path: Path) -> None:
    head, body = _split_header(_decompressed(mbo_file))
    off = dbn.MBOMsg(1, 5602, 1, 42, 5214_100_000_000, 1, dbn.Action.ADD, dbn.Side.BID, 2)
    src = DbnFileSource(_write(tmp_path, "off.dbn", head + body[: 56 * 3] + bytes(off)))
    ev = _events(src)
    assert len(ev) == 3
    assert src.stats.malformed == {"off-tick price": 1}


def test_zero_length_file_is_a_user_error_naming_it(tmp_path: Path) -> None:
    p = _write(tmp_path, "empty.dbn.zst", b"")
    with pytest.raises(TapeflowError, match=r"empty\.dbn\.zst"):
        DbnFileSource(p)


def test_csv_passed_as_dbn_is_a_user_error_naming_it(csv_file: Path) -> None:
    with pytest.raises(TapeflowError, match=r"ts_and_dom_2min\.csv.*not a DBN file"):
        DbnFileSource(csv_file)


def test_random_bytes_are_a_user_error_naming_the_file(tmp_path: Path) -> None:
    noise = np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    p = _write(tmp_path, "noise.dbn", b"\x00" + noise)
    with pytest.raises(TapeflowError, match=r"noise\.dbn"):
        DbnFileSource(p)


def test_zstd_of_non_dbn_data_is_a_user_error(tmp_path: Path) -> None:
    p = _write(tmp_path, "text.dbn.zst", zstandard.ZstdCompressor().compress(b"hello, world\n" * 10))
    with pytest.raises(TapeflowError, match="no DBN header"):
        DbnFileSource(p)


def test_unsupported_schema_is_a_user_error(mbp1_file: Path, tmp_path: Path) -> None:
    raw = bytearray(_decompressed(mbp1_file))
    raw[24:26] = struct.pack("<H", 5)  # metadata schema field -> ohlcv-1s
    with pytest.raises(TapeflowError, match=r"ohlcv-1s.*not supported"):
        DbnFileSource(_write(tmp_path, "bars.dbn", bytes(raw)))


def test_truncated_metadata_is_a_user_error(mbp1_file: Path, tmp_path: Path) -> None:
    with pytest.raises(TapeflowError, match="truncated"):
        DbnFileSource(_write(tmp_path, "head.dbn", _decompressed(mbp1_file)[:100]))


def test_instrument_argument_overrides_the_metadata_symbol(mbp1_file: Path) -> None:
    assert DbnFileSource(mbp1_file, instrument="MES").info.instrument.root == "MES"
