"""Auto-trader: entry signals from the rule engine become bracket orders through the account.

Only ``enter_long`` / ``enter_short`` signals act; alerts and highlights are ignored. The order goes
through :meth:`Account.submit` like any other (kill switch, risk, journal), with ``source=RULE``;
the automation switch, windows and mandatory stop are the risk manager's to enforce. With
``one_position_per_instrument`` a signal is skipped while the instrument has a position or any
working order (an entry or a bracket).

Signals are read by attribute (``action``, ``instrument``, ``qty``, ``stop_ticks``, ...), so this
module depends on ``core`` only, as the package rules require; ``signals.model.Signal`` fits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import msgspec

from tapeflow.core.events import Side
from tapeflow.core.instruments import parse_symbol
from tapeflow.errors import TapeflowError
from tapeflow.trading.account import Account, SubmitResult
from tapeflow.trading.orders import Bracket, OrderRequest, OrderType, Source

ENTRY_ACTIONS = {"enter_long": Side.BUY, "enter_short": Side.SELL}


class SignalLike(Protocol):
    """The fields of ``tapeflow.signals.model.Signal`` the auto-trader reads."""

    ts_ns: int
    instrument: str
    price: int
    rule: str
    action: str
    qty: int
    stop_ticks: int | None
    target_ticks: int | None


class AutoDecision(msgspec.Struct, frozen=True):
    """What the auto-trader did with one signal."""

    acted: bool
    reason: str = ""
    result: SubmitResult | None = None


class AutoTrader:
    """Signal -> bracket order, via the account."""

    def __init__(self, account: Account, hold: Callable[[SignalLike], str | None] | None = None) -> None:
        self.account = account
        self.hold = hold  # a live feed's health check: a reason to let an entry pass, or None

    def on_signal(self, signal: SignalLike) -> AutoDecision:
        """Act on one signal; the decision says why when nothing was sent."""
        acct = self.account
        if acct.journal is not None:
            acct.journal.write("signals", signal)  # every signal, before it is acted on
        side = ENTRY_ACTIONS.get(str(signal.action))
        if side is None:
            return AutoDecision(False, f"{signal.action} is not an entry")
        held = self.hold(signal) if self.hold is not None else None
        if held:
            return AutoDecision(False, held)
        try:
            root = parse_symbol(signal.instrument).instrument.root
        except TapeflowError as e:
            return AutoDecision(False, str(e))
        auto = acct.settings.auto
        if auto.one_position_per_instrument:
            pos = acct.ledger.positions.get(root)
            if pos is not None and pos.qty != 0:
                return AutoDecision(False, f"already in a {root} position")
            if any(o.instrument == root for o in acct.open_orders()):
                return AutoDecision(False, f"a {root} order is already working")
        limit = auto.entry_type == "limit"
        req = OrderRequest(
            instrument=root,
            side=side,
            qty=signal.qty,
            type=OrderType.LIMIT if limit else OrderType.MARKET,
            limit_price=signal.price if limit else None,
            source=Source.RULE,
            bracket=Bracket(signal.stop_ticks, signal.target_ticks),
            tag=signal.rule,
        )
        res = acct.submit(req, ts_ns=signal.ts_ns)
        return AutoDecision(res.ok, res.reason, res)
