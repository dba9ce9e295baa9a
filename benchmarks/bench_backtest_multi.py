"""Several instruments in one backtest: what the time-ordered merge costs.

Simulated ES and NQ RTH tapes (the same events, in memory) run four ways in the same process:
ES alone and NQ alone (the baseline: their sum), then ES+NQ in one account two ways: "fine", the
merged tape stepped piece by piece through each pipeline (before), and "lockstep", flow and rules
planned ahead per instrument and played back in time order against the account (after,
``tapeflow.backtest.lockstep``). The two must give the same fills and trades (checked here too).
The ratio column is a run's time over the baseline's sum.

    .venv/bin/python benchmarks/bench_backtest_multi.py [--minutes 390] [--rules FILE | --trading]
        [--daily-loss-usd N] [--trailing-drawdown-usd N]

``--trading``: rules that enter both ways on diagonal imbalances with 2-tick stops and targets, so
the account holds positions much of the day (the shipped example rules trade a few times a day).
``--daily-loss-usd`` / ``--trailing-drawdown-usd``: P&L limits (off by default), which make the paper
broker hand the account every print that could breach them (``tapeflow.trading.mark_bands``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from tapeflow.backtest.runner import run_backtest
from tapeflow.backtest.setup import default_rules_path, rule_engine_factory
from tapeflow.feeds.base import FeedInfo, FeedStats
from tapeflow.feeds.merge import merge_tapes
from tapeflow.feeds.open import open_source
from tapeflow.trading.settings import settings_from_dict

TRADING_RULES = "".join(f"""
[[rule]]
name = "imbalance {side}"
detector = "diagonal_imbalance"
action = "enter_{side}"
stop_ticks = 2
target_ticks = 2
[rule.params]
min_volume = 3
""" for side in ("long", "short"))


class _Memory:
    """A source over batches already read (so the timings leave out the simulator)."""

    def __init__(self, info: FeedInfo, batches: list[np.ndarray]) -> None:
        self.info, self.batches, self.stats = info, batches, FeedStats()

    def __iter__(self):
        self.stats = FeedStats()
        for b in self.batches:
            self.stats.count_batch(b)
            yield b


def _load(url: str) -> tuple[FeedInfo, list[np.ndarray]]:
    src = open_source(url)
    return src.info, list(src)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=390)
    ap.add_argument("--rules", default=None, help="rules TOML (default: the shipped example)")
    ap.add_argument("--trading", action="store_true", help="rules that trade all day (see above)")
    ap.add_argument("--daily-loss-usd", type=float, default=0, help="daily loss limit (0: off)")
    ap.add_argument("--trailing-drawdown-usd", type=float, default=0, help="trailing drawdown limit (0: off)")
    a = ap.parse_args()
    rules = a.rules or default_rules_path()
    if a.trading:
        rules = Path(tempfile.mkdtemp()) / "trading.toml"
        rules.write_text(TRADING_RULES)
    engines = rule_engine_factory(rules)
    settings = settings_from_dict({"risk": {"daily_loss_limit_usd": a.daily_loss_usd,
                                            "trailing_drawdown_usd": a.trailing_drawdown_usd}}, "bench")
    es = _load(f"sim://rth?symbol=ES&seed=1&minutes={a.minutes}")
    nq = _load(f"sim://rth?symbol=NQ&seed=2&minutes={a.minutes}")
    pieces = sum(1 for _ in merge_tapes([_Memory(*es), _Memory(*nq)]))
    rows = []
    results = {}
    runs = (("ES alone", [es], True), ("NQ alone", [nq], True),
            ("ES+NQ fine (before)", [es, nq], False), ("ES+NQ lockstep", [es, nq], True))
    for name, feeds, lockstep in runs:
        t = time.perf_counter()
        r = results[name] = run_backtest([_Memory(*f) for f in feeds], engines, settings, lockstep=lockstep)
        rows.append((name, r.prints, time.perf_counter() - t, len(r.trades)))
    base = rows[0][2] + rows[1][2]
    print(f"{'run':<24}{'prints':>10}{'seconds':>10}{'prints/s':>12}{'trades':>8}{'x baseline':>12}")
    for name, prints, s, trades in rows:
        ratio = f"{s / base:.2f}" if name.startswith("ES+NQ") else ""
        print(f"{name:<24}{prints:>10,}{s:>10.2f}{prints / s:>12,.0f}{trades:>8}{ratio:>12}")
    fine, fast = results["ES+NQ fine (before)"], results["ES+NQ lockstep"]
    same = fine.fills == fast.fills and [t.trip for t in fine.trades] == [t.trip for t in fast.trades]
    print(f"lockstep == fine: {'same fills and trades' if same else 'DIFFERENT (a bug)'} "
          f"({len(fast.fills)} fills); speed-up {rows[2][2] / rows[3][2]:.1f}x")
    events = sum(len(b) for _, batches in (es, nq) for b in batches)
    print(f"merged: {pieces:,} pieces handed to the pipelines for {events:,} events")


if __name__ == "__main__":
    main()
