"""Risk checks per second and paper-broker tape throughput, each against a baseline in the same run.

Run: ``.venv/bin/python benchmarks/bench_risk.py [n_trades]`` (default 1,000,000 synthetic ES trades,
random walk, fed in batches of 1,000; the two-tape figure interleaves ES and NQ trades, the
four-instrument checks have the account-wide exposure limit on). Prints: figure, value, unit,
baseline, ratio (time of the figure / time of the baseline: how many bare loops one unit of real
work costs).
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import date

import numpy as np

from tapeflow.core.events import Side, make_trades
from tapeflow.trading import (
    Account,
    AutoTrader,
    Bracket,
    OrderRequest,
    OrderType,
    PaperBroker,
    RiskSettings,
    Source,
    TradingSettings,
)
from tapeflow.trading.settings import parse_window
from tapeflow.trading.testing import et

T0 = et(date(2024, 7, 2), "09:31")
BATCH = 1_000


def synthetic_tape(n: int, seed: int = 7) -> np.ndarray:
    """``n`` trades, 1 ms apart, prices a +-1 tick random walk around 22000 ticks."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(-1, 2, n)
    price = 22_000 + np.cumsum(steps)
    side = np.where(steps >= 0, 1, -1)
    size = rng.integers(1, 10, n)
    return make_trades(T0 + np.arange(n, dtype=np.int64) * 1_000_000, price, size, side)


def opening_prints(ts: int) -> np.ndarray:
    """One ES print (tape id 0) at 22,000 ticks and one NQ print (tape id 1) at 80,000."""
    rows = make_trades([ts, ts], [22_000, 80_000], [1, 1], [1, 1])
    rows["instrument_id"][1] = 1
    return rows


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_risk_checks(n: int, roots: tuple[str, ...] = ("ES",)) -> tuple[float, float]:
    """Checks of ``n`` requests; with several ``roots`` the account-wide exposure limit is on and
    the requests and working orders spread over those instruments (MES rides the ES tape)."""
    multi = len(roots) > 1
    risk = RiskSettings(
        max_position=5,
        max_order_qty=3,
        daily_loss_limit_cents=100_000,
        trailing_drawdown_cents=300_000,
        max_trades_per_day=50,
        max_consecutive_losses=3,
        cooldown_after_loss_seconds=30,
        trading_windows=(parse_window("09:30-11:30"), parse_window("13:30-15:50")),
        no_entries_before_close_minutes=10,
        max_exposure_tenths=100 if multi else None,
        max_stop_ticks=40 if multi else None,
    )
    acct = Account(TradingSettings(risk=risk), broker=PaperBroker(instrument_ids={0: "ES", 1: "NQ"}))
    acct.on_events(opening_prints(T0))
    for root in roots:
        price = 80_000 if "NQ" in root else 22_000
        acct.submit(OrderRequest(instrument=root, side=Side.BUY, qty=1, bracket=Bracket(8, 8)))
        acct.submit(OrderRequest(instrument=root, side=Side.BUY, qty=1, type=OrderType.LIMIT, limit_price=price - 10))
    reqs = [
        OrderRequest(
            instrument=roots[i % len(roots)],
            side=Side.BUY if i % 2 else Side.SELL,
            qty=1 + i % 3,
            source=Source.RULE,
            bracket=Bracket(8, 12),
        )
        for i in range(n)
    ]
    check, ledger, open_orders, ts = acct.risk.check, acct.ledger, acct.open_orders(), acct.clock_ns

    def real() -> None:
        for r in reqs:
            check(r, ts_ns=ts, ledger=ledger, open_orders=open_orders)

    def baseline() -> None:  # the least a check can do: one call, read qty, compare
        def trivial(r: OrderRequest) -> bool:
            return r.qty <= 3

        for r in reqs:
            trivial(r)

    return timed(real), timed(baseline)


def bench_tape(tape: np.ndarray, make) -> float:  # type: ignore[no-untyped-def]
    target = make()
    feed = target.on_events

    def run() -> None:
        for i in range(0, len(tape), BATCH):
            feed(tape[i : i + BATCH])

    return timed(run)


def bare_loop(tape: np.ndarray) -> float:
    """Baseline: a Python loop touching every trade's price (what any per-trade model must beat)."""

    def run() -> None:
        last = 0
        for i in range(0, len(tape), BATCH):
            for p in tape["price"][i : i + BATCH].tolist():
                last = p
        assert last

    return timed(run)


def two_instrument_tape(n: int) -> np.ndarray:
    """The same walk, every other trade NQ (tape id 1, 58,000 ticks higher): two feeds interleaved."""
    tape = synthetic_tape(n)
    nq = np.arange(n) % 2 == 1
    tape["instrument_id"][nq] = 1
    tape["price"][nq] += 58_000
    return tape


def with_resting_orders_on_two_tapes() -> Account:
    """ES long 1 with a bracket, a resting MES limit (on the ES tape) and an NQ bracket and limit."""
    acct = Account(broker=PaperBroker(instrument_ids={0: "ES", 1: "NQ"}))
    acct.on_events(opening_prints(T0 - 1))
    acct.submit(OrderRequest(instrument="ES", side=Side.BUY, qty=1, bracket=Bracket(5_000, 5_000)))
    acct.submit(OrderRequest(instrument="MES", side=Side.BUY, qty=1, type=OrderType.LIMIT, limit_price=10_000))
    acct.submit(OrderRequest(instrument="NQ", side=Side.SELL, qty=1, bracket=Bracket(5_000, 5_000)))
    acct.submit(OrderRequest(instrument="NQ", side=Side.SELL, qty=1, type=OrderType.LIMIT, limit_price=99_000))
    return acct


def with_resting_orders() -> Account:
    """An account long 1 with an OCO bracket and a resting limit, all far from the market."""
    acct = Account()
    acct.on_events(make_trades([T0 - 1], [22_000], [1], [1]))
    acct.submit(OrderRequest(instrument="ES", side=Side.BUY, qty=1, bracket=Bracket(5_000, 5_000)))
    acct.submit(OrderRequest(instrument="ES", side=Side.BUY, qty=1, type=OrderType.LIMIT, limit_price=10_000))
    return acct


def latencies_us(fn, n: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    out = []
    for i in range(n):
        t = time.perf_counter_ns()
        fn(i)
        out.append((time.perf_counter_ns() - t) / 1_000)
    out.sort()
    return statistics.median(out), out[int(0.99 * (len(out) - 1))]


def bench_signal_and_kill(n: int = 2_000) -> tuple[tuple[float, float], tuple[float, float]]:
    from tapeflow.signals.model import Action, Signal

    acct = Account(TradingSettings(risk=RiskSettings(max_position=2, max_order_qty=2)))
    acct.on_events(make_trades([T0], [22_000], [1], [1]))
    bot = AutoTrader(acct)

    def signal_to_order(i: int) -> None:
        s = Signal(
            ts_ns=T0 + i,
            instrument="ES",
            kind="bench",
            side=Side.BUY,
            price=22_000,
            strength=1.0,
            bar_start_ns=T0,
            rule="bench",
            action=Action.ENTER_LONG,
            stop_ticks=8,
            target_ticks=8,
        )
        assert bot.on_signal(s).acted
        acct.flatten()  # untimed work would be nicer; it is small next to the signal path

    def kill(i: int) -> None:
        acct.kill(by="bench")
        assert acct.ledger.is_flat and not acct.open_orders()

    sig = latencies_us(signal_to_order, n)
    kill_lat = []
    for i in range(n // 4):
        acct.rearm(by="bench")
        acct.submit(OrderRequest(instrument="ES", side=Side.BUY, qty=1, bracket=Bracket(8, 8)))
        acct.submit(
            OrderRequest(instrument="ES", side=Side.BUY, qty=1, type=OrderType.LIMIT, limit_price=21_000)
        )
        t = time.perf_counter_ns()
        kill(i)
        kill_lat.append((time.perf_counter_ns() - t) / 1_000)
    kill_lat.sort()
    return sig, (statistics.median(kill_lat), kill_lat[int(0.99 * (len(kill_lat) - 1))])


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    tape = synthetic_tape(n)
    n_checks = 100_000
    t_risk, t_risk_base = bench_risk_checks(n_checks)
    t_multi, t_multi_base = bench_risk_checks(n_checks, ("ES", "MES", "NQ", "MNQ"))
    t_loop = bare_loop(tape)
    t_idle = bench_tape(tape, PaperBroker)
    t_rest = bench_tape(tape, with_resting_orders)
    t_two = bench_tape(two_instrument_tape(n), with_resting_orders_on_two_tapes)
    (s50, s99), (k50, k99) = bench_signal_and_kill()
    rows = [
        (
            "risk checks (all rules on)",
            n_checks / t_risk,
            "checks/s",
            n_checks / t_risk_base,
            t_risk / t_risk_base,
        ),
        ("risk checks, 4 instruments + exposure", n_checks / t_multi, "checks/s", n_checks / t_multi_base,
         t_multi / t_multi_base),
        ("paper broker, no working orders", n / t_idle, "trades/s", n / t_loop, t_idle / t_loop),
        ("account + broker, 3 working orders", n / t_rest, "trades/s", n / t_loop, t_rest / t_loop),
        ("ES+NQ tapes, 6 working (ES, MES, NQ)", n / t_two, "trades/s", n / t_loop, t_two / t_loop),
    ]
    print(f"{n:,} synthetic trades in batches of {BATCH:,}; {n_checks:,} risk checks")
    print(f"{'figure':<38}{'value':>14}  {'unit':<10}{'baseline':>14}  ratio")
    for name, value, unit, base, ratio in rows:
        print(f"{name:<38}{value:>14,.0f}  {unit:<10}{base:>14,.0f}  {ratio:5.1f}x")
    print("baseline: checks = one trivial call per request; trades = bare Python loop over the prices")
    print(
        f"signal -> order accepted & filled (paper)  p50 {s50:8.1f} us   p99 {s99:8.1f} us   target p99 < 1000 us"
    )
    print(
        f"kill switch -> flat, no working orders     p50 {k50:8.1f} us   p99 {k99:8.1f} us   target < 5000 us"
    )


if __name__ == "__main__":
    main()
