"""Several instruments at max replay speed: each merged slice is planned per instrument and played
back in the slice's own order (``PipelineGroup``, :mod:`tapeflow.playback`), and gives exactly what
stepping every run of the slice through its pipeline gives (``lockstep=False``): account events and
fills, orders, signals and the auto-trader's decisions, bars, and the journal, table by table.

Both ways get the same slices, sized as the feed runner's vary (1 row to 8192, runs cut anywhere).
The real-data case replays the recorded ES file and the recorded NQ CSV moved onto the ES file's
clock (a copy with every time shifted by one amount), so the two interleave row by row.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
import pytest
from backtest_scenario import ENTRY_RULES, SECOND, T0, ArraySource

from tapeflow.appdirs import app_paths
from tapeflow.backtest.standin import ScheduledEngine
from tapeflow.core.events import Side, make_trades
from tapeflow.feeds.merge import merge_tapes
from tapeflow.feeds.open import open_source
from tapeflow.feeds.tagged_merge import TaggedMerge
from tapeflow.pipeline import Pipeline
from tapeflow.pipeline_group import PipelineGroup
from tapeflow.store.journal import TABLES
from tapeflow.trading.account import Account
from tapeflow.trading.orders import OrderRequest, OrderType, Source
from tapeflow.trading.paper_broker import PaperBroker
from tapeflow.trading.settings import settings_from_dict
from tapeflow.ui.session import TerminalSession, build_session

ES_SIM = "sim://open?trades=6000&seed=11&minutes=30"
NQ_SIM = "sim://open?trades=6000&seed=12&minutes=30&symbol=NQ"
SLICES = (300, 1, 4096, 37, 8192, 2, 64, 65)
"""Rows per step, in turn: the runner's slices (256..8192), single rows and live-sized pieces (the
pipeline's bar-close path is taken up to 64 rows)."""
WALL_CLOCK = {"seq", "client_id", "order_client_id", "wall_ns", "rules_file"}
"""Journal columns that differ between two runs whatever they do (row numbers, per-process ids,
wall time, the temporary folder)."""


def _session(tmp: Path, specs: list[str], lockstep: bool, **kw) -> TerminalSession:
    paths = app_paths(tmp)
    paths.rules_file.parent.mkdir(parents=True, exist_ok=True)
    paths.rules_file.write_text(ENTRY_RULES)  # entries both ways on diagonal imbalances, 2-tick brackets
    s = build_session(specs, paths, speed=None, **kw)
    s.runner.steps.lockstep = lockstep
    return s


def _step(s: TerminalSession, rows: int | None = None, sizes=None) -> int:
    """Step the merged replay through the pipelines in slices of ``sizes`` (``rows`` rows, or all)."""
    sizes = sizes or itertools.cycle(SLICES)
    done = 0
    while rows is None or done < rows:
        want = next(sizes)
        chunk = s.replay.step_events(want if rows is None else min(want, rows - done))
        if not len(chunk):
            break
        s.runner.steps.process(chunk)
        done += len(chunk)
    return done


def _record(s: TerminalSession, events: list) -> dict:
    """Everything the replay did, comparable across two sessions."""
    plain = msgspec.structs.replace
    journal = s.files.journal
    return {
        "events": [plain(e, order=plain(e.order, client_id="")) for e in events],
        "orders": {k: plain(o, client_id="") for k, o in s.account.orders.items()},
        "signals": [list(f.pipeline.signals) for f in s.feeds],
        "decisions": [[(sig, plain(d, result=None), d.result and d.result.order_id) for sig, d in f.pipeline.decisions]
                      for f in s.feeds],
        "positions": dict(s.account.ledger.positions),  # qty, lots, mark, the round trip in progress
        "money": (s.account.ledger.cash_cents, s.account.ledger.realized_cents, s.account.ledger.commission_cents),
        "clock": s.account.clock_ns,
        "journal": {t: [{k: v for k, v in row.items() if k not in WALL_CLOCK} for row in journal.rows(t)]
                    for t in TABLES},
    }


def _both_ways(tmp_path: Path, specs: list[str], play, **kw) -> tuple[dict, dict, list[TerminalSession]]:
    """The same replay stepped run by run (before) and played back (after)."""
    out, sessions = [], []
    for name, lockstep in (("exact", False), ("fast", True)):
        s = _session(tmp_path / name, specs, lockstep, **kw)
        events: list = []
        s.account.subscribe(events.append)
        play(s)
        out.append(_record(s, events))
        sessions.append(s)
    return out[0], out[1], sessions


def _assert_same(exact: dict, fast: dict, sessions: list[TerminalSession]) -> None:
    for key in ("events", "orders", "signals", "decisions", "positions", "money", "clock"):
        assert fast[key] == exact[key], key
    for table in TABLES:
        assert fast["journal"][table] == exact["journal"][table], table
    for a, b in zip(*(s.feeds for s in sessions), strict=True):
        assert b.pipeline.flow.bars().same_as(a.pipeline.flow.bars()), a.instrument.root
        assert b.pipeline.flow.events_seen == a.pipeline.flow.events_seen
    for s in sessions:
        s.close()


def _fills(rec: dict) -> list[tuple[str, int, int]]:
    return [(e.fill.instrument, int(e.fill.side), e.fill.price) for e in rec["events"] if e.fill is not None]


@pytest.mark.parametrize("bar", ["1m", "10s"])
def test_two_simulated_instruments_replay_the_same_played_back_as_stepped_run_by_run(tmp_path, bar):
    exact, fast, sessions = _both_ways(tmp_path, [ES_SIM, NQ_SIM], _step, bar=bar)
    fills = _fills(exact)
    assert {f[0] for f in fills} == {"ES", "NQ"} and len(fills) >= 20  # both instruments traded, often
    assert sum(map(len, exact["signals"])) >= 20
    _assert_same(exact, fast, sessions)


def _busy_start(s: TerminalSession) -> None:
    """A position and two working orders (a resting buy limit and a sell stop, far from the market)
    on each instrument from the first prints on, then the rest of the replay: the account is never
    idle, so every run's rows reach the broker as they come (none held back), and the rules' entries
    are refused (one position per instrument)."""
    while not all(f.pipeline.flow.last_price for f in s.feeds):
        _step(s, 1)
    for f in s.feeds:
        root, last = f.instrument.root, f.pipeline.flow.last_price
        for req in (OrderRequest(instrument=root, side=Side.BUY, qty=2),
                    OrderRequest(instrument=root, side=Side.BUY, qty=1, type=OrderType.LIMIT, limit_price=last - 400),
                    OrderRequest(instrument=root, side=Side.SELL, qty=1, type=OrderType.STOP, stop_price=last - 500)):
            assert s.account.submit(msgspec.structs.replace(req, source=Source.MANUAL)).ok
    _step(s, 20)  # the market orders fill on the next prints
    assert all(s.account.ledger.positions[f.instrument.root].qty == 2 for f in s.feeds)


def _busy(s: TerminalSession) -> None:
    _busy_start(s)
    _step(s)


def test_a_busy_account_with_positions_and_working_orders_on_both_replays_the_same(tmp_path):
    exact, fast, sessions = _both_ways(tmp_path, [ES_SIM, NQ_SIM], _busy, bar="10s")
    for s in sessions:  # busy to the end: positions held, the far orders still working on both
        assert {o.request.instrument for o in s.account.open_orders()} == {"ES", "NQ"}
        assert all(p.qty for p in s.account.ledger.positions.values())
    assert sum(map(len, exact["signals"])) >= 20  # the rules still fire (their entries are refused: one position each)
    assert all(p.mark is not None for p in exact["positions"].values())  # marked to the tape
    _assert_same(exact, fast, sessions)


def _nq_on_es_clock(csv_file: Path, mbp1_file: Path, out: Path) -> Path:
    """A copy of the NQ CSV with every time moved so its first row comes 20 s after the ES file's first
    (its naive times are Madrid time)."""
    madrid = ZoneInfo("Europe/Madrid")
    es_first = int(next(iter(open_source(str(mbp1_file))))["ts_event"][0])
    lines = csv_file.read_text().splitlines()
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    first = datetime.strptime(lines[1].split(",", 1)[0], fmt).replace(tzinfo=madrid)
    shift = datetime.fromtimestamp(es_first / 1e9 + 20, madrid) - first
    moved = [lines[0]]
    for line in lines[1:]:
        ts, rest = line.split(",", 1)
        t = (datetime.strptime(ts, fmt).replace(tzinfo=madrid) + shift).astimezone(madrid)
        moved.append(f"{t.strftime(fmt)[:-3]},{rest}")
    out.write_text("\n".join(moved) + "\n")
    return out


@pytest.mark.parametrize("bar", ["1m", "10s"])
def test_the_recorded_es_and_nq_files_replay_the_same_played_back_as_stepped_run_by_run(
        tmp_path, mbp1_file, csv_file, bar):
    nq = _nq_on_es_clock(csv_file, mbp1_file, tmp_path / "nq_on_es_clock.csv")
    exact, fast, sessions = _both_ways(tmp_path, [str(mbp1_file), str(nq)], _step, bar=bar,
                                       symbol="NQ", tz="Europe/Madrid")
    tags = [int(t) for t in np.concatenate(list(TaggedMerge([f.source for f in sessions[0].feeds])))["instrument_id"]]
    assert sum(a != b for a, b in itertools.pairwise(tags)) > 200  # the two tapes interleave
    assert len(_fills(exact)) >= 2 and sum(map(len, exact["signals"])) > 10
    _assert_same(exact, fast, sessions)


def test_the_recorded_files_of_two_days_replay_the_same_as_the_terminal_opens_them(tmp_path, mbp1_file, csv_file):
    """As ``tapeflow gui es.dbn.zst ts_and_dom_2min.csv`` opens them: one file after the other."""
    exact, fast, sessions = _both_ways(tmp_path, [str(mbp1_file), str(csv_file)], _step, bar="10s",
                                       symbol="NQ", tz="Europe/Madrid")
    assert sum(map(len, exact["signals"])) > 10
    _assert_same(exact, fast, sessions)


def test_forward_jumps_replay_the_same_played_back_as_stepped_run_by_run(tmp_path):
    """A jump ahead plays every row up to the target in large steps (``FeedRunner.jump_to``)."""
    minute = 60_000_000_000

    def jumps(s: TerminalSession) -> None:
        _step(s, 500)
        start = int(s.replay._ts[0])
        for target in (start + 4 * minute + 123, start + 17 * minute + 7_000_000_000):
            assert s.runner.last_ts() < target  # ahead
            asyncio.run(s.runner.jump_to(target))
            _step(s, 700)
        _step(s)

    exact, fast, sessions = _both_ways(tmp_path, [ES_SIM, NQ_SIM], jumps, bar="10s")
    assert len(_fills(exact)) >= 20
    _assert_same(exact, fast, sessions)


def test_a_backward_jump_with_a_busy_account_replays_the_same_played_back_as_stepped_run_by_run(tmp_path):
    """A backward jump starts every flow state over in the middle of a bar; the next slices' plans go
    on from the new flow states and the fresh rule engines."""
    minute = 60_000_000_000

    def back(s: TerminalSession) -> None:
        _busy_start(s)
        _step(s, 30_000)
        start = int(s.replay._ts[0])
        assert s.runner.last_ts() > start + 3 * minute + 4_000_000_000  # back
        asyncio.run(s.runner.jump_to(start + 3 * minute + 4_000_000_000))
        _step(s)

    exact, fast, sessions = _both_ways(tmp_path, [ES_SIM, NQ_SIM], back, bar="10s")
    assert len(_fills(exact)) >= 2 and sum(map(len, exact["signals"])) >= 10  # rules fire after the jump too
    _assert_same(exact, fast, sessions)


# ---------------------------------------------------------------- a known answer, hand-computed

HALF = SECOND // 2
COSTS = {"commission_usd": 0.59, "exchange_fee_usd": 1.38}  # $1.97 a side
ES_PRICES = [20000, 20000, 20002, 20004, 20006, 20010, 20010, 20010]
NQ_PRICES = [80000, 80000, 79996, 79990, 79990, 79990, 79990, 79990]


@pytest.mark.parametrize("lockstep", [False, True])
@pytest.mark.parametrize("rows", [1, 3, 16])
def test_a_daily_loss_on_nq_halts_the_es_entry_that_comes_after_it_in_the_merged_tape(lockstep, rows):
    """ES prints every second from 10:00:00, NQ every second from 10:00:00.5. NQ long at its first
    print (80000), its 4-tick stop triggers on the 79996 print at 10:00:02.5 and fills there:
    -4 ticks x $5 - 2 x $1.97 = -$23.94, past the $20 daily loss. The ES long signalled at its fourth
    print (10:00:03) comes after it on the merged tape and is refused, however the tape is sliced."""
    n = len(ES_PRICES)
    es = make_trades(T0 + SECOND * np.arange(n), ES_PRICES, [1] * n, [1] * n, instrument_id=118)
    nq = make_trades(T0 + HALF + SECOND * np.arange(n), NQ_PRICES, [1] * n, [1] * n, instrument_id=7)
    settings = settings_from_dict({"paper": COSTS, "risk": {"daily_loss_limit_usd": 20}}, "test")
    account = Account(settings, broker=PaperBroker(settings.paper, {0: "ES", 1: "NQ"}))
    sources = [ArraySource(es, 3, "es", "ES"), ArraySource(nq, 3, "nq", "NQ")]
    schedules = {"ES": {4: "long"}, "NQ": {1: "long"}}
    pipes = [Pipeline(s.info.instrument, engine=ScheduledEngine(s.info.instrument, schedules[s.info.instrument.root]),
                      account=account) for s in sources]
    group = PipelineGroup(pipes, lockstep=lockstep)
    fills = []
    account.subscribe(lambda ev: fills.append(ev.fill) if ev.fill is not None else None)
    tape = np.concatenate(list(TaggedMerge(sources)))
    fired = []
    for a in range(0, len(tape), rows):
        fired += group.process(tape[a : a + rows])
    assert [(f.instrument, f.side, f.price, f.ts_ns - T0) for f in fills] == [
        ("NQ", Side.BUY, 80000, HALF), ("NQ", Side.SELL, 79996, 2 * SECOND + HALF)]
    assert account.ledger.realized_cents - account.ledger.commission_cents == -2394
    assert [(s.instrument, s.ts_ns - T0) for s in fired] == [("NQ", HALF), ("ES", 3 * SECOND)]
    ((_, decision),) = pipes[0].decisions
    assert not decision.acted and decision.reason == "trading halted (daily_loss)"


def test_entries_after_rows_held_while_the_account_was_idle_fill_at_their_own_prints():
    """One slice of 16 one-row runs, the account idle until the ES long at ES's fourth print
    (10:00:03, 20004): the rows before it wait, and the entry hands them to the broker first, so the
    market order fills at that print (not at the next one, 20006). Then the NQ long at NQ's fourth
    print (10:00:03.5) fills at its 79990."""
    n = len(ES_PRICES)
    es = make_trades(T0 + SECOND * np.arange(n), ES_PRICES, [1] * n, [1] * n, instrument_id=118)
    nq = make_trades(T0 + HALF + SECOND * np.arange(n), NQ_PRICES, [1] * n, [1] * n, instrument_id=7)
    settings = settings_from_dict({}, "test")
    account = Account(settings, broker=PaperBroker(settings.paper, {0: "ES", 1: "NQ"}))
    sources = [ArraySource(es, 8, "es", "ES"), ArraySource(nq, 8, "nq", "NQ")]
    schedules = {"ES": {4: "long"}, "NQ": {4: "long"}}
    pipes = [Pipeline(s.info.instrument, engine=ScheduledEngine(s.info.instrument, schedules[s.info.instrument.root],
                                                                target_ticks=None, stop_ticks=40), account=account)
             for s in sources]
    fills = []
    account.subscribe(lambda ev: fills.append(ev.fill) if ev.fill is not None else None)
    tape = np.concatenate(list(TaggedMerge(sources)))
    assert tape["instrument_id"].tolist() == [0, 1] * 8  # 16 runs of one row
    PipelineGroup(pipes).process(tape)
    assert [(f.instrument, f.price, f.ts_ns - T0) for f in fills] == [
        ("ES", 20004, 3 * SECOND), ("NQ", 79990, 3 * SECOND + HALF)]


# ---------------------------------------------------------------- the merged tape the terminal replays


class _Batches(list):
    """A source of ready batches (``TaggedMerge`` reads ``info`` of each)."""

    def __init__(self, batches: list[np.ndarray], root: str) -> None:
        super().__init__(batches)
        self.info = open_source(f"sim://?symbol={root}").info


@pytest.mark.parametrize("seed", range(6))
def test_the_tagged_merge_is_the_backtest_merge_row_for_row(seed):
    """Three tapes with many equal times and clocks that step back, cut into batches of 1 to 40 rows:
    the terminal's merged tape holds the rows of ``merge_tapes`` (the backtest's order: time, ties to
    the source listed first, each source's own order kept), each tagged with its source."""
    rng = np.random.default_rng(seed)
    tapes = []
    for k in range(3):
        n = int(rng.integers(50, 400))
        ts = np.cumsum(rng.integers(0, 3, n)) - rng.integers(0, 2, n) * rng.integers(0, 4, n)  # ties, steps back
        rows = make_trades(ts, (1000 * k + np.arange(n)).tolist(), [1] * n, [1] * n, instrument_id=50 + k)
        cuts = np.unique(np.concatenate(([0, n], rng.integers(1, n, n // 10))))
        tapes.append([rows[a:b] for a, b in itertools.pairwise(cuts.tolist())])
    want = [(k, int(p)) for k, part in merge_tapes(tapes) for p in part["price"]]
    got = np.concatenate(list(TaggedMerge([_Batches(t, r) for t, r in zip(tapes, ("ES", "NQ", "MES"), strict=True)],
                                          batch_rows=int(rng.integers(1, 100)))))
    assert list(zip(got["instrument_id"].tolist(), got["price"].tolist(), strict=True)) == want
