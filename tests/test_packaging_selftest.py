"""``tapeflow selftest`` in-process, and the frozen entry point's ``--selftest`` flag."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from tapeflow.cli import main as cli_main
from tapeflow.commands import selftest

REPO = Path(__file__).resolve().parents[1]
OK_LINE = re.compile(
    r"^selftest ok: events=(\d+) trades=(\d+) bars=(\d+) signals=(\d+) orders=(\d+) fills=(\d+) "
    r"rules=(\S+) gui=(\S+) plugins=ok elapsed=\d+\.\d\ds$"
)


def _entry_module():
    spec = importlib.util.spec_from_file_location("tapeflow_frozen_main", REPO / "packaging" / "tapeflow_main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_selftest_replays_the_sample_through_the_whole_pipeline_and_prints_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TAPEFLOW_HOME", str(tmp_path / "user"))  # must stay untouched
    assert cli_main(["selftest"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    m = OK_LINE.match(out[0])
    assert m, out[0]
    events, trades, bars, signals, orders, fills = (int(g) for g in m.groups()[:6])
    assert events > trades > 0
    assert bars == 20  # 20 minutes of 1-minute bars
    assert fills >= 2 and orders >= 2  # at least the scripted round trip
    if importlib.util.find_spec("tapeflow.signals.engine") is not None:
        assert int(m.group(7)) > 0 and signals > 0
    if importlib.util.find_spec("PySide6") is not None:
        assert m.group(8) in ("window", "qt")
    assert not (tmp_path / "user").exists()


def test_selftest_failure_is_one_line_naming_the_reason_and_exit_1(capsys):
    assert selftest.main("sim://nowhere", gui_mode="off") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("selftest FAILED: ") and "nowhere" in lines[0]


def test_require_gui_without_qt_fails(monkeypatch, capsys):
    for name in ("PySide6", "PySide6.QtWidgets"):
        monkeypatch.setitem(sys.modules, name, None)  # importing them now raises ImportError
    with pytest.raises(selftest.SelftestError, match="Qt is not available"):
        selftest.check_gui("require", paths=None)
    assert selftest.check_gui("auto", paths=None) == "absent"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--selftest"], ["selftest"]),
        (["--selftest", "--no-gui"], ["selftest", "--no-gui"]),
        (["--require-gui", "--selftest"], ["selftest", "--require-gui"]),
        ([], []),
        (["info", "sim://"], ["info", "sim://"]),
    ],
)
def test_frozen_entry_maps_the_selftest_flag_onto_the_subcommand(argv, expected):
    assert _entry_module().translate_argv(argv) == expected


def test_frozen_entry_runs_the_selftest(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["tapeflow", "--selftest", "--no-gui"])
    assert _entry_module().main() == 0
    assert capsys.readouterr().out.startswith("selftest ok: ")
