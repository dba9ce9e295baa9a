"""Date ranges with several instruments: ``backtest --symbol ES --symbol NQ --from D --to D`` runs
each trading date's ES and NQ files in one account (one pipeline per date, as a one-symbol range)."""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from test_backtest_report import ENTRY_RULES, SETTINGS

from tapeflow.backtest.runner import open_day_sources
from tapeflow.cli import main
from tapeflow.history.simdays import write_sim_days


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Simulated ES and NQ for 2024-07-01..03 (10 minutes from the RTH open each), rules, settings."""
    root = tmp_path_factory.mktemp("two")
    write_sim_days(root / "history", date(2024, 7, 1), 3, minutes=10, seed=11)
    write_sim_days(root / "history", date(2024, 7, 1), 3, minutes=10, seed=12, symbol="NQ")
    (root / "rules.toml").write_text(ENTRY_RULES)
    (root / "trading.toml").write_text(SETTINGS)
    return root / "history", root / "rules.toml", root / "trading.toml"


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text(), parse_float=Decimal)


def test_a_two_symbol_range_is_each_dates_es_and_nq_files_run_in_one_account(catalog, tmp_path):
    folder, rules, settings = catalog
    common = ["--rules", str(rules), "--settings", str(settings), "--jobs", "1"]
    assert main(["backtest", "--symbol", "ES", "--symbol", "NQ", "--from", "2024-07-01", "--to", "2024-07-02",
                 "--data-dir", str(folder), "--out", str(tmp_path / "range"), *common]) == 0
    by_day = {}
    for day in ("2024-07-01", "2024-07-02"):  # the same dates as FILE runs of their two files each
        out = tmp_path / day
        assert main(["backtest", str(folder / f"ES_mbp-1_{day}.dbn.zst"), str(folder / f"NQ_mbp-1_{day}.dbn.zst"),
                     "--out", str(out), *common]) == 0
        by_day[day] = _metrics(out)
    m = _metrics(tmp_path / "range")
    assert m["instrument"] == "ES+NQ"
    for root in ("ES", "NQ"):
        mine = [d["per_instrument"][root] for d in by_day.values()]
        assert m["per_instrument"][root]["trades"] == sum(x["trades"] for x in mine) > 0
        assert m["per_instrument"][root]["net_pnl"] == sum(x["net_pnl"] for x in mine)
        assert m["per_instrument"][root]["exchange_fees"] == sum(x["exchange_fees"] for x in mine)
    days = list(csv.DictReader((tmp_path / "range" / "days.csv").open()))
    assert [d["trading_date"] for d in days] == ["2024-07-01", "2024-07-02"]
    assert [d["files"] for d in days] == ["2", "2"]  # each date: its ES file and its NQ file
    assert [Decimal(d["net_usd"]) for d in days] == [by_day[d]["net_pnl"] for d in ("2024-07-01", "2024-07-02")]


def test_a_date_one_symbol_lacks_is_named_or_skipped(catalog, tmp_path, capsys):
    folder, rules, settings = catalog
    partial = tmp_path / "history"
    partial.mkdir()
    for f in folder.glob("*.dbn.zst"):
        if f.name != "NQ_mbp-1_2024-07-02.dbn.zst":
            (partial / f.name).write_bytes(f.read_bytes())
    args = ["backtest", "--symbol", "ES", "--symbol", "NQ", "--from", "2024-07-01", "--to", "2024-07-03",
            "--data-dir", str(partial), "--rules", str(rules), "--settings", str(settings), "--jobs", "1"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "no NQ file for 1 trading date(s): 2024-07-02" in err
    assert main([*args, "--skip-missing", "--out", str(tmp_path / "b")]) == 0
    days = list(csv.DictReader((tmp_path / "b" / "days.csv").open()))
    assert [d["trading_date"] for d in days] == ["2024-07-01", "2024-07-03"]  # ES alone on the 2nd is not run


def test_several_symbols_with_files_or_one_symbol_twice_are_user_errors(catalog, capsys):
    folder, _, _ = catalog
    es = str(folder / "ES_mbp-1_2024-07-01.dbn.zst")
    assert main(["backtest", es, "--symbol", "ES", "--symbol", "NQ"]) == 2
    assert "give it once with FILE" in capsys.readouterr().err
    assert main(["backtest", "--symbol", "ES", "--symbol", "ESU4", "--from", "2024-07-01",
                 "--data-dir", str(folder)]) == 2
    assert "--symbol ES given twice" in capsys.readouterr().err


def test_a_date_split_over_two_files_of_one_instrument_is_one_tape_beside_the_other_instrument(tmp_path):
    """ES in two files for the date (10:00:00 and :02, then :04 and :06), NQ in one (:01, :03, :05):
    one ES source reading both files in order, one NQ source, so the day pairs up as one ES and one NQ."""
    t0 = 1_719_928_800_000_000_000  # 2024-07-02 14:00 UTC

    def csv_file(name: str, seconds: list[int], price: str) -> str:
        rows = "".join(f"{t0 + s * 1_000_000_000},{price},1,BUY\n" for s in seconds)
        (tmp_path / name).write_text("timestamp,price,size,side\n" + rows)
        return str(tmp_path / name)

    files = [csv_file("es_a.csv", [0, 2], "5000.00"), csv_file("es_b.csv", [4, 6], "5000.25"),
             csv_file("nq_0702.csv", [1, 3, 5], "20000.00")]
    es, nq = open_day_sources(files)
    assert (es.info.instrument.root, nq.info.instrument.root) == ("ES", "NQ")
    assert [int((r["ts_event"] - t0) // 1_000_000_000) for b in es for r in b] == [0, 2, 4, 6]
    assert [len(b) for b in nq] == [3]
