"""The engine as a whole: streaming equals whole-file, bar/tick/volume bars, real data, the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeflow.cli import main
from tapeflow.core.events import K_LEVEL, K_TRADE
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
MINUTE = 60 * 10**9


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


@pytest.mark.parametrize("bar", ["1m", "100t", "400v"])
def test_one_event_at_a_time_gives_exactly_the_whole_file_signals(sim_events, bar):
    """A live feed's usual batch, one row, takes the engine's shortest path (closes included)."""
    whole = run_rules(sim_events, default_rules(), ES, bar=bar)
    assert sum(s.event_seq is not None for s in whole) >= 5  # bar closes among them
    assert stream(sim_events, default_rules(), [1], bar=bar) == whole


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
    from tapeflow.signals.detectors.absorption import AbsorptionParams
    from tapeflow.signals.detectors.poc import NodeBreakoutParams
    from tapeflow.signals.rules import Rule

    keen = Rule("keen_breakout", "volume_node_breakout", NodeBreakoutParams(min_delta=20, min_delta_ratio=0.05))
    absorbing = Rule("keen_absorption", "absorption", AbsorptionParams(factor=0.3, min_volume=1, min_close_away=0))
    rules = (*default_rules(), keen, absorbing)  # idle precomputes the nodes and the absorption decision
    reference = run_rules(sim_events, rules, ES)
    assert any(s.rule == "keen_breakout" for s in reference)
    assert sum(s.rule == "keen_absorption" for s in reference) >= 5
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


def _with_rows_at_bar_ends(events: np.ndarray, inserts: list[tuple[int, int]]) -> np.ndarray:
    """``events`` with rows inserted before the first trade of each new one-minute bar: for each
    (offset_ns, kind) of ``inserts``, a copy of a row of that kind stamped at the bar's end + offset
    (an inserted trade is 1 lot)."""
    trade = np.flatnonzero(events["kind"] == K_TRADE)
    book_row = int(np.flatnonzero(events["kind"] == K_LEVEL)[0])
    keys = events["ts_event"][trade] // MINUTE
    firsts = trade[np.flatnonzero(keys[1:] != keys[:-1]) + 1]  # first trade of each new bar
    parts, start = [], 0
    for row in firsts.tolist():
        end = int(events["ts_event"][row]) // MINUTE * MINUTE
        parts.append(events[start:row])
        for offset, kind in inserts:
            src = row if kind == K_TRADE else book_row
            extra = events[src : src + 1].copy()
            extra["ts_event"] = end + offset
            if kind == K_TRADE:
                extra["size"] = 1
            parts.append(extra)
        start = row
    parts.append(events[start:])
    return np.concatenate(parts)


def _stream_one_by_one(events: np.ndarray, rules,
                       idle_after: Callable[[int], bool]) -> tuple[list, RuleEngine, FlowState]:
    """Every event in its own batch, with ``engine.idle`` after the rows ``idle_after`` picks."""
    engine = RuleEngine(rules, ES)
    state = FlowState(ES, FlowSettings(bar="1m"))
    out = []
    for i in range(len(events)):
        batch = events[i : i + 1]
        out += engine.on_update(state, state.update(batch), batch)
        if idle_after(i):
            engine.idle(state)
    return out, engine, state


def _same_bars_as_one_batch(state: FlowState, events: np.ndarray) -> None:
    whole = FlowState(ES, FlowSettings(bar="1m"))
    whole.update(events)
    streamed, batched = state.bars(), whole.bars()
    for name in (*BAR_FIELDS, *LEVEL_FIELDS):
        assert np.array_equal(getattr(streamed, name), getattr(batched, name)), name


def test_the_clock_reaching_a_bars_end_on_a_book_row_closes_the_bar_there(sim_events):
    """A time bar closes at the first event whose time reaches its end, a book row included, not at
    the next trade; a trade stamped before that row that arrives after it counts in the next bar.
    The bar-close signals carry that row's time and number; stream and whole file agree."""
    events = _with_rows_at_bar_ends(sim_events, [(0, K_LEVEL), (-1, K_TRADE)])
    rules = default_rules()
    reference = run_rules(events, rules, ES)
    out, _, state = _stream_one_by_one(events, rules, lambda i: events["kind"][i] != K_TRADE)
    assert out == reference
    _same_bars_as_one_batch(state, events)
    closes = [s for s in reference if s.event_seq is not None]
    assert len(closes) >= 5 and all(s.trade_seq is None for s in closes)
    for s in closes:  # the inserted book row, stamped at the end of the signal's bar, closed it
        row = events[s.event_seq]
        assert (int(row["kind"]), int(row["ts_event"]), s.ts_ns) == (K_LEVEL, s.bar_start_ns + MINUTE, s.ts_ns)
        assert s.ts_ns == s.bar_start_ns + MINUTE
    bars = state.bars()
    late = (events["kind"] == K_TRADE) & (events["ts_event"] % MINUTE == MINUTE - 1)
    assert int(np.count_nonzero(late)) == len(bars) - 1  # one before each bar but the first
    # each late trade (1 lot, stamped 1 ns before a bar's end) opened the next bar, at its own open
    firsts = bars.start_ns[1:]
    opened = np.isin(events["ts_event"][late] + 1, firsts)
    assert opened.all()
    assert int(bars.trades.sum()) == int(np.count_nonzero(events["kind"] == K_TRADE))


def test_a_prepared_close_is_dropped_when_a_trade_joins_the_bar_after_it(sim_events):
    """The close is prepared while the feed is idle just before a bar's end, then one more trade joins
    the bar: the preparation must not be used (the builder froze the bar again), signals unchanged."""
    events = _with_rows_at_bar_ends(sim_events, [(-2_000_000, K_LEVEL), (-1_000_000, K_TRADE)])
    quiet = set(np.flatnonzero((events["kind"] != K_TRADE) & (events["ts_event"] % MINUTE == MINUTE - 2_000_000)))
    rules = default_rules()
    reference = run_rules(events, rules, ES)
    out, engine, state = _stream_one_by_one(events, rules, lambda i: i in quiet)  # idle right before the trade
    assert len(quiet) == state.builder.closed_count and out == reference
    assert engine.prepared_closes == 0
    _same_bars_as_one_batch(state, events)
