"""The engine as a whole: streaming equals whole-file, bar/tick/volume bars, real data, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeflow.cli import main
from tapeflow.core.instruments import instrument
from tapeflow.feeds import scenarios as sc
from tapeflow.feeds.open import open_source
from tapeflow.feeds.simulator import MarketSimulator
from tapeflow.flow.footprint import BAR_FIELDS, LEVEL_FIELDS
from tapeflow.flow.state import FlowSettings, FlowState
from tapeflow.signals.engine import RuleEngine, run_rules
from tapeflow.signals.paths import default_plugins_dir
from tapeflow.signals.plugins import load_registry
from tapeflow.signals.rules import default_rules

ES = instrument("ES")


@pytest.fixture(scope="module")
def sim_events() -> np.ndarray:
    return np.concatenate(list(MarketSimulator(seed=7, n_trades=20_000)))


def stream(events: np.ndarray, rules, sizes: list[int], bar: str = "1m", registry=None) -> list:
    engine = RuleEngine(rules, ES, registry=registry)
    state = FlowState(ES, FlowSettings(bar=bar))
    out, i, k = [], 0, 0
    while i < len(events):
        n = sizes[k % len(sizes)]
        batch = events[i : i + n]
        out += engine.on_update(state, state.update(batch), batch)
        i, k = i + n, k + 1
    return out


@pytest.mark.parametrize("bar", ["1m", "300t", "1500v"])
def test_streaming_in_odd_batches_gives_exactly_the_whole_file_signals(sim_events, bar):
    reg = load_registry([default_plugins_dir()], use_entry_points=False)
    rules = default_rules(reg)
    whole = run_rules(sim_events, rules, ES, bar=bar, registry=reg)
    assert len(whole) > 50 and len({s.kind for s in whole}) >= 6
    assert stream(sim_events, rules, [1, 7, 333, 4096, 2], bar=bar, registry=reg) == whole


def test_signals_are_in_time_order_and_carry_their_bar(sim_events):
    sigs = run_rules(sim_events, default_rules(), ES)
    ts = [s.ts_ns for s in sigs]
    assert ts == sorted(ts)
    assert all(s.bar_start_ns % sc.BAR_NS == 0 and s.bar_start_ns <= s.ts_ns for s in sigs)
    assert all(s.inputs for s in sigs)


def test_every_scenario_fires_its_detector():
    rules = default_rules()
    expect = {"stacked_imbalance": "stacked_imbalance", "absorption": "absorption",
              "unfinished_auction": "unfinished_auction", "zero_print": "zero_print",
              "delta_divergence": "delta_divergence"}
    for name, make in sc.ALL.items():
        ev, _ = make()
        end = int(ev["ts_event"].max()) // sc.BAR_NS * sc.BAR_NS + sc.BAR_NS
        closer = ev[ev["kind"] == 1][-1:].copy()
        closer["ts_event"] = end
        events = np.concatenate([ev, closer])
        kinds = {s.kind for s in run_rules(events, rules, ES, batch_size=5)}
        assert expect[name] in kinds, (name, kinds)


def test_entry_rule_signal_carries_bracket():
    from tapeflow.signals.rules import parse_rules

    f = parse_rules('[[rule]]\nname = "long"\ndetector = "absorption"\naction = "enter_long"\n'
                    'qty = 2\nstop_ticks = 8\ntarget_ticks = 12\n')
    ev, _ = sc.absorption()
    closer = ev[ev["kind"] == 1][-1:].copy()
    closer["ts_event"] = sc.BAR_START + sc.BAR_NS
    (sig,) = run_rules(np.concatenate([ev, closer]), f.rules, ES)
    assert sig.is_entry and (sig.qty, sig.stop_ticks, sig.target_ticks) == (2, 8, 12) and sig.rule == "long"


def test_real_mbp1_file_streaming_matches_whole_file(mbp1_file):
    src = open_source(str(mbp1_file))
    events = np.concatenate(list(src))
    whole = run_rules(events, default_rules(), src.info.instrument)
    assert stream(events, default_rules(), [13, 101]) == whole
    assert {s.kind for s in whole} >= {"diagonal_imbalance", "unfinished_auction"}
    assert all(22114 <= s.price <= 22118 for s in whole)  # prices traded 5528.50 .. 5529.50


def test_cli_signals_json_lines(capsys, mbp1_file):
    assert main(["signals", str(mbp1_file), "--format", "json"]) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert recs
    for r in recs:
        assert {"ts_ns", "kind", "side", "price", "bar_start_ns", "strength", "rule"} <= set(r)
        assert r["side"] in ("buy", "sell", "none") and 5528.5 <= r["price"] <= 5529.5
        assert r["bar_start_ns"] % 60_000_000_000 == 0


def test_cli_signals_text_counts_per_session(capsys, mbp1_file):
    assert main(["signals", str(mbp1_file), "--all"]) == 0
    out = capsys.readouterr().out
    assert "Signals per detector kind per session" in out and "2024-07-02" in out


def test_cli_bad_rules_file_is_one_line_error(capsys, tmp_path, mbp1_file):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nname = "x"\ndetector = "absorption"\nsession = "lunch"\n')
    assert main(["signals", str(mbp1_file), "--rules", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:4:" in err and "'session'" in err


def test_streaming_across_a_session_change_gives_the_whole_file_signals():
    """Live-sized batches (scalar path) and file-sized ones (numpy path) cut sessions alike."""
    from tapeflow.core.timeutil import iso_to_ns

    events = np.concatenate(list(MarketSimulator(seed=5, n_trades=8_000, start=iso_to_ns("2024-07-02T20:45:00Z"))))
    gap = events["ts_event"] >= iso_to_ns("2024-07-02T20:59:00Z")
    events["ts_event"][gap] += 75 * 60 * 10**9  # over the halt into the next session
    rules = default_rules()
    whole = run_rules(events, rules, ES)
    assert len({s.ts_ns >= iso_to_ns("2024-07-02T22:00:00Z") for s in whole}) == 2, "signals on both sides"
    for sizes in ([1], [3, 16, 17, 64, 65], [5000]):
        assert stream(events, rules, sizes) == whole, sizes


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(1, 5), st.sampled_from([-1, 0, 1])),
                min_size=1, max_size=160), st.sampled_from([1, 2, 5, 40, 80]))
def test_the_running_poc_equals_the_poc_of_the_whole_profile_and_frozen_levels_stay_frozen(trades, slice_len):
    """The tracker keeps the developing POC trade by trade; a full scan of the profile is the reference."""
    from tapeflow.signals.tracking import FrozenLevels, SessionTracker

    tracker = SessionTracker()
    price, size, side = (np.array(c, np.int64) for c in zip(*trades, strict=True))
    frozen: list = []  # (levels frozen at a step, the profile summary at that step)
    for a in range(0, len(trades), slice_len):
        tracker.update(price[a : a + slice_len] + 4000, size[a : a + slice_len], side[a : a + slice_len], 1)
        reference = FrozenLevels(tracker.profile.copy(), None, None).poc()
        levels = tracker.frozen_levels()
        assert levels.poc() == reference
        frozen.append((levels, tracker.profile.summary()))
    for levels, summary in frozen:  # frozen levels keep their instant's profile (copy on write)
        assert levels.get().profile == summary


def test_idle_precomputation_never_changes_the_signals(sim_events):
    """A live runner calls ``idle`` whenever the feed is quiet; a backtest never does: same signals."""
    from tapeflow.signals.detectors.poc import NodeBreakoutParams
    from tapeflow.signals.rules import Rule

    keen = Rule("keen_breakout", "volume_node_breakout", NodeBreakoutParams(min_delta=20, min_delta_ratio=0.05))
    rules = (*default_rules(), keen)  # node breakouts read the nodes that idle precomputes
    reference = run_rules(sim_events, rules, ES)
    assert any(s.rule == "keen_breakout" for s in reference)
    for size in (1, 5):
        engine = RuleEngine(rules, ES)
        state = FlowState(ES, FlowSettings(bar="1m"))
        out = []
        for i in range(0, len(sim_events), size):
            batch = sim_events[i : i + size]
            out += engine.on_update(state, state.update(batch), batch)
            engine.idle(state)
            state.builder.flush()
        assert out == reference, size
        if size == 1:  # one event at a time, the closing trade finds its close made ready
            assert engine.prepared_closes > 0.5 * state.builder.closed_count


def test_a_prepared_close_is_dropped_when_a_late_trade_joins_the_bar(sim_events):
    """The feed's clock passes a bar's end (a book row), the close is prepared, then a trade stamped
    before the end arrives and joins the bar: the preparation must not be used, signals unchanged."""
    from tapeflow.core.events import K_TRADE

    events = sim_events.copy()
    trade = np.flatnonzero(events["kind"] == K_TRADE)
    minute = 60 * 10**9
    keys = events["ts_event"][trade] // minute
    firsts = trade[np.flatnonzero(keys[1:] != keys[:-1]) + 1]  # first trade of each new bar
    parts, start = [], 0
    for row in firsts.tolist():
        end = int(events["ts_event"][row]) // minute * minute
        book = events[trade[0] - 1 : trade[0]].copy() if events["kind"][0] == K_TRADE else events[:1].copy()
        book["ts_event"] = end  # the clock reaches the bar's end on a book row ...
        late = events[row : row + 1].copy()
        late["ts_event"] = end - 1  # ... then a trade stamped just before it
        late["size"] = 1
        parts += [events[start:row], book, late]
        start = row
    parts.append(events[start:])
    events = np.concatenate(parts)
    rules = default_rules()
    reference = run_rules(events, rules, ES)
    engine = RuleEngine(rules, ES)
    state = FlowState(ES, FlowSettings(bar="1m"))
    out = []
    for i in range(len(events)):
        batch = events[i : i + 1]
        out += engine.on_update(state, state.update(batch), batch)
        if batch["kind"][0] != K_TRADE:  # the feed goes quiet after book rows only: the late trade and
            engine.idle(state)  # the closing trade come back to back, so every preparation goes stale
    assert out == reference
    assert engine.prepared_closes == 0
    whole = FlowState(ES, FlowSettings(bar="1m"))
    whole.update(events)
    streamed, batched = state.bars(), whole.bars()
    for name in (*BAR_FIELDS, *LEVEL_FIELDS):  # the builder froze the bars again, with the late trades
        assert np.array_equal(getattr(streamed, name), getattr(batched, name)), name
