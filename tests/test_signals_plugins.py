"""Plugins: discovery from a folder, the shipped examples, a raising plugin disabled, entry points."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tapeflow.core.events import Side, make_trades
from tapeflow.core.instruments import instrument
from tapeflow.feeds import scenarios as sc
from tapeflow.flow.state import FlowState
from tapeflow.signals.api import describe_params
from tapeflow.signals.engine import RuleEngine, engine_from_file, run_rules
from tapeflow.signals.plugins import load_registry
from tapeflow.signals.rules import Rule, parse_rules

ES = instrument("ES")
REPO_PLUGINS = Path(__file__).resolve().parents[1] / "plugins"

PLUGIN = '''
from dataclasses import dataclass
from tapeflow.signals.api import Detector, param

@dataclass(frozen=True)
class P:
    every: int = param(2, "prints between signals", min=1)

class EveryNth(Detector):
    kind = "every_nth"
    Params = P

    def on_trades(self, view):
        for j in range(len(view)):
            self.count = getattr(self, "count", 0) + 1
            if self.count % self.params.every == 0:
                self.emit(view, side=1, price=int(view.price[j]), strength=1.0, index=j, n=self.count)

class Broken(Detector):
    kind = "broken"

    def on_bar(self, view):
        raise ZeroDivisionError("plugin bug")
'''


def trades(n: int, minutes: int = 1) -> np.ndarray:
    ts = sc.BAR_START + np.arange(n, dtype=np.int64) * (minutes * sc.BAR_NS // n)
    return make_trades(ts, [22000 + i % 3 for i in range(n)], [1] * n, [1] * n)


def test_plugin_folder_is_discovered_with_its_params(tmp_path: Path):
    (tmp_path / "every.py").write_text(PLUGIN)
    (tmp_path / "_private.py").write_text("raise RuntimeError('not loaded')")
    reg = load_registry([tmp_path], use_entry_points=False)
    assert {"every_nth", "broken"} <= reg.plugin_kinds and not reg.problems
    info = describe_params(reg.detectors["every_nth"].Params)
    assert [(p.name, p.default, p.min) for p in info] == [("every", 2, 1)]
    text = f'plugins = ["{tmp_path}"]\n[[rule]]\nname = "n"\ndetector = "every_nth"\n[rule.params]\nevery = 3\n'
    f = parse_rules(text)
    sigs = run_rules(trades(9), f.rules, ES, registry=load_registry(f.plugin_dirs, use_entry_points=False))
    assert [s.inputs["n"] for s in sigs] == [3, 6, 9]


def test_plugin_that_fails_to_import_is_reported_not_fatal(tmp_path: Path):
    (tmp_path / "bad.py").write_text("import not_a_module_anywhere\n")
    reg = load_registry([tmp_path], use_entry_points=False)
    assert len(reg.problems) == 1 and "not_a_module_anywhere" in reg.problems[0].traceback


def test_plugin_that_raises_is_disabled_and_the_engine_keeps_running(tmp_path: Path):
    (tmp_path / "every.py").write_text(PLUGIN)
    reg = load_registry([tmp_path], use_entry_points=False)
    rules = [Rule("b", "broken", reg.detectors["broken"].Params()),
             Rule("n", "every_nth", reg.detectors["every_nth"].Params())]
    engine = RuleEngine(rules, ES, registry=reg)
    state = FlowState(ES)
    out = []
    ev = np.concatenate([trades(4), trades(4)])
    ev["ts_event"][4:] += sc.BAR_NS  # the second four close the first bar
    for batch in (ev[:4], ev[4:]):
        out += engine.on_update(state, state.update(batch), batch)
    assert [d.kind for d in engine.disabled] == ["broken"] and "ZeroDivisionError" in engine.disabled[0].traceback
    assert len(out) == 4  # every_nth kept going


def test_shipped_example_plugins(tmp_path: Path):
    reg = load_registry([REPO_PLUGINS], use_entry_points=False)
    assert {"large_lot", "delta_flip"} <= reg.plugin_kinds
    legs = make_trades(sc.BAR_START + np.arange(3), [22000, 22001, 22002], [5, 60, 2], [1, -1, 1])
    sigs = run_rules(legs, [Rule("big", "large_lot", reg.detectors["large_lot"].Params())], ES, registry=reg)
    assert [(s.side, s.price, s.inputs["size"]) for s in sigs] == [(Side.SELL, 22001, 60)]
    ev, _ = sc.delta_divergence()  # bar deltas +40 then +20: no flip at 30, a flip needs opposite signs
    flip = reg.detectors["delta_flip"]
    assert run_rules(ev, [Rule("f", "delta_flip", flip.Params(min_delta=10))], ES, registry=reg) == []


def test_engine_from_file_loads_plugins_dir(tmp_path: Path):
    rules = tmp_path / "r.toml"
    rules.write_text('[[rule]]\nname = "big"\ndetector = "large_lot"\n[rule.params]\nmin_size = 2\n')
    engine = engine_from_file(rules, instrument="ES", plugins_dir=REPO_PLUGINS)
    assert [r.detector for r in engine.rules] == ["large_lot"]


def test_entry_point_plugins_are_loaded(monkeypatch):
    import importlib.util
    import sys

    import tapeflow.signals.plugins as plugins_mod

    spec = importlib.util.spec_from_file_location("ep_large_lot_for_test", REPO_PLUGINS / "large_lot.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)

    class FakeEntryPoint:
        name = "large-lot"

        def load(self):
            return mod.LargeLot

    monkeypatch.setattr(plugins_mod, "entry_points", lambda group: [FakeEntryPoint()] * (group == "tapeflow.signals"))
    reg = load_registry()
    assert reg.detectors["large_lot"] is mod.LargeLot and "large_lot" in reg.plugin_kinds
