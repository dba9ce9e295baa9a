"""The ``tapeflow`` command line: info and footprint, text and JSON, errors on one line."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from tapeflow.cli import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_info_json_describes_the_real_mbp1_file(capsys, mbp1_file):
    rc, out, _ = run_cli(capsys, "info", str(mbp1_file), "--format", "json")
    assert rc == 0
    d = json.loads(out)
    assert d["schema"] == "mbp-1" and d["symbols"] == ["ESU4"] and d["instrument"] == "ES"
    assert d["records"] == 2288 and d["trades"] == 120 and d["trade_volume"] == 253
    assert d["malformed"] == 0
    assert d["start"].startswith("2024-07-01T23:58:01.218") and d["end"].startswith("2024-07-02T00:01:59")


def test_footprint_json_matches_an_independent_decode_of_the_file(capsys, mbp1_file):
    """Per-minute bid/ask volume recomputed straight from databento_dbn's own records."""
    import databento_dbn as dbn
    import zstandard

    dec = dbn.DBNDecoder()
    with open(mbp1_file, "rb") as f:
        dec.write(zstandard.ZstdDecompressor().stream_reader(f).read())
    _, *records = dec.decode()
    expected: dict[int, dict[float, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for r in records:
        if str(r.action) == "T":
            minute = r.ts_event // 60_000_000_000 * 60_000_000_000
            cell = expected[minute][r.price / 1e9]
            cell[0 if str(r.side) == "A" else 1] += r.size  # A = seller hit the bid

    rc, out, _ = run_cli(capsys, "footprint", str(mbp1_file), "--bar", "1m", "--format", "json")
    assert rc == 0
    bars = [json.loads(line) for line in out.splitlines()]
    assert [b["start_ns"] for b in bars] == sorted(expected)
    for b in bars:
        got = {p: [bid, ask] for p, bid, ask in b["levels"] if bid or ask}
        assert got == {p: v for p, v in expected[b["start_ns"]].items()}
        assert b["volume"] == sum(bid + ask for _, bid, ask in b["levels"]) + b["unknown_volume"]
        assert b["delta"] == sum(ask - bid for _, bid, ask in b["levels"])
        assert b["low"] <= b["poc"] <= b["high"]


def test_footprint_text_shows_bars_and_session_summary(capsys, mbp1_file):
    rc, out, _ = run_cli(capsys, "footprint", str(mbp1_file), "--last", "2")
    assert rc == 0
    assert "Footprint 1m (ES)" in out and "Session summary" in out and "5529.25" in out
    assert "253 contracts, delta +31" in out


def test_footprint_on_the_simulator_needs_no_file(capsys):
    rc, out, _ = run_cli(capsys, "footprint", "sim://?seed=3&minutes=5", "--bar", "1m", "--format", "json")
    assert rc == 0
    bars = [json.loads(line) for line in out.splitlines()]
    assert len(bars) == 5 and all(b["volume"] > 0 for b in bars)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["info", "/nonexistent/file.dbn"], "no such file"),
        (["footprint", "sim://?seed=1&minutes=1", "--bar", "7x"], "bad bar size"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(capsys, argv, message):
    rc, _out, err = run_cli(capsys, *argv)
    assert rc == 2
    assert message in err and err.count("\n") == 1 and err.startswith("tapeflow: error:")


def test_wrong_file_type_is_a_clear_error(capsys, tmp_path):
    bad = tmp_path / "random.dbn"
    bad.write_bytes(bytes(range(256)) * 4)
    rc, _, err = run_cli(capsys, "info", str(bad))
    assert rc == 2 and str(bad) in err
