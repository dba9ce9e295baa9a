"""The local catalog: trading dates vs CME holidays, files described by their own DBN metadata."""

from __future__ import annotations

import json
from datetime import date

import databento_dbn as dbn
import pytest
import zstandard

from tapeflow.cli import main
from tapeflow.core.timeutil import iso_to_ns
from tapeflow.errors import TapeflowError
from tapeflow.history.calendar import easter, holidays, is_trading_date, trading_date_of, trading_dates
from tapeflow.history.catalog import INDEX_FILE, scan, select
from tapeflow.history.catalog import gaps as find_gaps
from tapeflow.history.simdays import write_sim_days


def test_cme_equity_holidays_of_2024_by_name():
    assert holidays(2024) == {
        date(2024, 1, 1): "New Year's Day", date(2024, 1, 15): "Martin Luther King Jr. Day",
        date(2024, 2, 19): "Presidents Day", date(2024, 3, 29): "Good Friday", date(2024, 5, 27): "Memorial Day",
        date(2024, 6, 19): "Juneteenth", date(2024, 7, 4): "Independence Day", date(2024, 9, 2): "Labor Day",
        date(2024, 11, 28): "Thanksgiving", date(2024, 12, 25): "Christmas",
    }


def test_a_holiday_morning_session_belongs_to_the_next_trading_date():
    assert trading_date_of(iso_to_ns("2024-07-04T14:00:00Z")) == date(2024, 7, 5)  # 10:00 ET on July 4th
    assert trading_date_of(iso_to_ns("2024-07-03T23:00:00Z")) == date(2024, 7, 5)  # 19:00 ET on the 3rd
    assert trading_date_of(iso_to_ns("2024-07-03T14:00:00Z")) == date(2024, 7, 3)
    assert trading_date_of(iso_to_ns("2024-07-06T14:00:00Z")) == date(2024, 7, 8)  # a Saturday


def test_weekend_holidays_are_observed_on_the_nearest_weekday_but_new_year_not_on_friday():
    assert easter(2025) == date(2025, 4, 20) and easter(2019) == date(2019, 4, 21)
    assert holidays(2021)[date(2021, 12, 24)] == "Christmas"  # Saturday 25th -> Friday
    assert holidays(2021)[date(2021, 7, 5)] == "Independence Day"  # Sunday 4th -> Monday
    assert holidays(2023)[date(2023, 1, 2)] == "New Year's Day"  # Sunday -> Monday
    assert date(2021, 12, 31) not in holidays(2021) and date(2022, 1, 1) not in holidays(2022)
    assert date(2021, 6, 18) not in holidays(2021)  # Juneteenth only from 2022
    assert list(trading_dates(date(2024, 7, 3), date(2024, 7, 8))) == [date(2024, 7, 3), date(2024, 7, 5),
                                                                          date(2024, 7, 8)]
    assert not is_trading_date(date(2024, 7, 6)) and is_trading_date(date(2024, 7, 5))


@pytest.fixture(scope="module")
def sim_week(tmp_path_factory):
    """Five simulated trading dates from Monday 2024-07-01 (Thursday the 4th is a holiday), 5 min each."""
    folder = tmp_path_factory.mktemp("history")
    files = write_sim_days(folder, date(2024, 7, 1), 5, minutes=5, seed=3)
    return folder, files


def _decoded_records(path) -> int:
    dec = dbn.DBNDecoder()
    dec.write(zstandard.ZstdDecompressor().decompress(path.read_bytes(), max_output_size=1 << 30))
    return len(dec.decode()) - 1  # the first item is the metadata


def test_catalog_reads_dates_schema_symbol_and_record_counts_from_the_files(sim_week):
    folder, files = sim_week
    entries = scan(folder)
    assert [e.trading_date for e in entries] == [date(2024, 7, d) for d in (1, 2, 3, 5, 8)]
    assert {(e.schema, e.root, e.symbols, e.dataset) for e in entries} == {("mbp-1", "ES", ("ESU4",), "GLBX.MDP3")}
    for e, f in zip(entries, files, strict=True):
        assert e.records == _decoded_records(f) > 0
        assert e.size == f.stat().st_size
    assert json.loads((folder / INDEX_FILE).read_text())  # counts are cached next to the files


def test_a_renamed_file_is_still_dated_by_its_metadata(sim_week, tmp_path):
    _, files = sim_week
    (tmp_path / "whatever.dbn.zst").write_bytes(files[1].read_bytes())
    (e,) = scan(tmp_path)
    assert e.trading_date == date(2024, 7, 2)


def test_gaps_tell_a_missing_trading_date_from_a_holiday(sim_week, tmp_path):
    _, files = sim_week
    for f in (files[0], files[1], files[3]):  # drop Wednesday the 3rd
        (tmp_path / f.name).write_bytes(f.read_bytes())
    holes = find_gaps(scan(tmp_path))
    assert [(g.day, g.reason) for g in holes] == [(date(2024, 7, 3), "missing"), (date(2024, 7, 4), "Independence Day")]


def test_a_range_picks_one_file_per_trading_date_and_names_missing_days(sim_week, tmp_path):
    folder, files = sim_week
    days = select(scan(folder), "ES", date(2024, 7, 2), date(2024, 7, 5))
    assert [(d.day, d.files) for d in days] == [(date(2024, 7, 2), (str(files[1]),)),
                                                (date(2024, 7, 3), (str(files[2]),)),
                                                (date(2024, 7, 5), (str(files[3]),))]
    (tmp_path / files[0].name).write_bytes(files[0].read_bytes())
    with pytest.raises(TapeflowError, match=r"1 trading date\(s\): 2024-07-02"):
        select(scan(tmp_path), "ES", date(2024, 7, 1), date(2024, 7, 2))
    assert [d.day for d in select(scan(tmp_path), "ES", date(2024, 7, 1), date(2024, 7, 2), skip_missing=True)] == [
        date(2024, 7, 1)]
    with pytest.raises(TapeflowError, match="no NQ files"):
        select(scan(folder), "NQ", date(2024, 7, 1), date(2024, 7, 2), skip_missing=True)


def test_a_file_that_is_not_dbn_is_an_error_naming_it(tmp_path):
    (tmp_path / "bad.dbn.zst").write_bytes(b"not a dbn file at all")
    with pytest.raises(TapeflowError, match=r"bad\.dbn\.zst"):
        scan(tmp_path)


def test_data_list_prints_the_catalog_and_its_gaps(sim_week, capsys):
    folder, _ = sim_week
    assert main(["data", "list", "--data-dir", str(folder), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [f["trading_date"] for f in doc["files"]] == ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05",
                                                         "2024-07-08"]
    assert doc["gaps"] == [{"root": "ES", "schema": "mbp-1", "date": "2024-07-04", "reason": "Independence Day"}]
    assert main(["data", "list", "--data-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "holiday: Independence Day" in out and "5 files" in out and "0 missing" in out


def test_a_root_downloads_the_continuous_front_month_and_a_contract_itself():
    from tapeflow.history.download import api_symbol

    assert api_symbol("ES") == ("ES.c.0", "continuous", "ES")
    assert api_symbol("mnq") == ("MNQ.c.0", "continuous", "MNQ")
    assert api_symbol("ES.v.1") == ("ES.v.1", "continuous", "ES")
    assert api_symbol("ESU4") == ("ESU4", "raw_symbol", "ES")
    with pytest.raises(TapeflowError, match="XYZ"):
        api_symbol("XYZ")
