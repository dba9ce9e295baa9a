"""Recording live batches to DBN: exact round trips through DbnFileSource, rolling per session,
counted losses, and a recording made from a websocket feed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import databento_dbn as dbn
import numpy as np
import zstandard

from tapeflow.core.events import Kind, make_trades
from tapeflow.core.instruments import instrument
from tapeflow.feeds.dbn_file import DbnFileSource
from tapeflow.feeds.recorder import DbnRecorder, recording_schema
from tapeflow.feeds.ws_feed import WebsocketSource
from tapeflow.feeds.ws_server import FeedServer

ES = instrument("ES")


def record_file(path, tmp_path, batch_size=333) -> tuple[np.ndarray, DbnRecorder]:
    src = DbnFileSource(path, batch_size=batch_size)
    batches = list(src)
    with DbnRecorder.for_source(tmp_path, src.info) as rec:
        for b in batches:
            rec.write(b)
    return np.concatenate(batches), rec


def read_back(path) -> np.ndarray:
    return np.concatenate(list(DbnFileSource(path)))


def test_mbp1_recording_reads_back_to_exactly_the_same_events(mbp1_file, tmp_path):
    events, rec = record_file(mbp1_file, tmp_path)
    assert rec.schema == "mbp-1" and rec.skipped == {}
    assert [p.name for p in rec.files] == ["ES_mbp-1_2024-07-02.dbn.zst"]
    back = DbnFileSource(rec.files[0])
    assert np.concatenate(list(back)).tobytes() == events.tobytes()
    assert back.info.symbols == ["ESU4"] and back.stats.malformed_total == 0


def test_recorded_file_is_real_dbn_for_databento_dbn_decoder(mbp1_file, tmp_path):
    events, rec = record_file(mbp1_file, tmp_path)
    dec = dbn.DBNDecoder()
    with open(rec.files[0], "rb") as f:
        dec.write(zstandard.ZstdDecompressor().stream_reader(f).read())
    meta, *records = dec.decode()
    assert str(meta.schema) == "mbp-1" and meta.dataset == "GLBX.MDP3" and meta.symbols == ["ESU4"]
    assert all(isinstance(r, dbn.MBP1Msg) for r in records)
    trades = [r for r in records if str(r.action) == "T"]
    first = events[events["kind"] == Kind.TRADE][0]
    assert len(trades) == 120 and sum(r.size for r in trades) == 253
    assert trades[0].price == int(first["price"]) * 250_000_000 and trades[0].ts_event == int(first["ts_event"])


def test_mbo_recording_reads_back_to_exactly_the_same_events(mbo_file, tmp_path):
    events, rec = record_file(mbo_file, tmp_path, batch_size=1000)
    assert rec.schema == "mbo" and len(rec.files) == 1 and rec.skipped == {}
    assert read_back(rec.files[0]).tobytes() == events.tobytes()


def _ns(y, mo, d, h, mi) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=UTC).timestamp()) * 1_000_000_000


def test_recording_rolls_to_a_new_file_at_each_trading_session(tmp_path):
    # 20:59 UTC on Mon 1 July 2024 is 16:59 ET (session of 1 July); 22:01 UTC is 18:01 ET (session of 2 July)
    ts = [_ns(2024, 7, 1, 20, 58), _ns(2024, 7, 1, 20, 59), _ns(2024, 7, 1, 22, 1), _ns(2024, 7, 1, 22, 2)]
    batch = make_trades(ts, [22000, 22001, 22002, 22003], [1, 2, 3, 4], [1, -1, 1, -1])
    with DbnRecorder(tmp_path, instrument=ES, schema="trades", symbols=["ESU4"]) as rec:
        rec.write(batch[:3])
        rec.write(batch[3:])
    assert [p.name for p in rec.files] == ["ES_trades_2024-07-01.dbn.zst", "ES_trades_2024-07-02.dbn.zst"]
    assert read_back(rec.files[0]).tobytes() == batch[:2].tobytes()
    assert read_back(rec.files[1]).tobytes() == batch[2:].tobytes()


def test_a_second_recording_of_the_same_session_gets_its_own_file(tmp_path):
    batch = make_trades([_ns(2024, 7, 1, 14, 0)], [22000], [1], [1])
    for _ in range(2):
        with DbnRecorder(tmp_path, instrument=ES, schema="trades") as rec:
            rec.write(batch)
    assert rec.files[0].name == "ES_trades_2024-07-01-2.dbn.zst"


def test_events_an_mbp1_file_cannot_hold_are_counted_by_reason(tmp_path):
    batch = make_trades([_ns(2024, 7, 1, 14, 0)] * 3, [22000] * 3, [1] * 3, [1] * 3)
    batch["kind"][1] = Kind.ORDER
    batch["kind"][2] = Kind.LEVEL
    batch["level"][2] = 3
    with DbnRecorder(tmp_path, instrument=ES, schema="mbp-1") as rec:
        rec.write(batch)
    assert rec.skipped == {"ORDER event in an MBP recording": 1, "LEVEL event beyond depth 1 (or unknown depth)": 1}
    assert read_back(rec.files[0]).tobytes() == batch[:1].tobytes()


def test_recording_schema_follows_the_source():
    assert [recording_schema(s) for s in ("tbbo", "mbp-10", "csv-tas", "simulated")] == [
        "mbp-1", "mbp-10", "trades", "mbp-10"]


def test_a_live_websocket_feed_recorded_with_tee_replays_as_the_original(mbp1_file, tmp_path):
    expected = np.concatenate(list(DbnFileSource(mbp1_file)))

    async def main() -> tuple[np.ndarray, DbnRecorder]:
        async with FeedServer(DbnFileSource(mbp1_file), max_batch_rows=250) as server:
            client = WebsocketSource(server.url, start_event=0, policy="block")
            parts: list[np.ndarray] = []
            rec = None
            async for batch in client:
                if rec is None:
                    rec = DbnRecorder.for_source(tmp_path, client.info)
                rec.write(batch)
                parts.append(batch)
            rec.close()
            return np.concatenate(parts), rec

    got, rec = asyncio.run(asyncio.wait_for(main(), 10))
    assert got.tobytes() == expected.tobytes()
    assert read_back(rec.files[0]).tobytes() == expected.tobytes()


def test_tee_passes_batches_through_and_closes_the_file(tmp_path):
    batch = make_trades([_ns(2024, 7, 1, 14, 0), _ns(2024, 7, 1, 14, 1)], [22000, 22004], [1, 5], [1, -1])

    async def source():
        yield batch[:1]
        yield batch[1:]

    async def main() -> tuple[list[int], DbnRecorder]:
        rec = DbnRecorder(tmp_path, instrument=ES, schema="trades")
        return [len(b) async for b in rec.tee(source())], rec

    sizes, rec = asyncio.run(main())
    assert sizes == [1, 1] and rec._out is None
    assert read_back(rec.files[0]).tobytes() == batch.tobytes()
