"""Orders, brackets, positions & P&L, risk manager, kill switch, paper broker, auto-trader.

The public surface for the UI, the webhook server and backtests is :class:`Account`
(``submit``/``cancel``/``modify``/``flatten``/``kill``/``rearm``/``set_automation``/``snapshot``/
``subscribe``/``events``/``on_events``) with the records it takes and returns.
"""

from tapeflow.trading.account import Account, KillSwitchEvent, SubmitResult
from tapeflow.trading.auto_trader import AutoDecision, AutoTrader
from tapeflow.trading.kill_switch import KillSwitch, KillSwitchState
from tapeflow.trading.orders import (
    Bracket,
    EventKind,
    Fill,
    Order,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
    Source,
)
from tapeflow.trading.paper_broker import PaperBroker
from tapeflow.trading.positions import Ledger, RoundTrip
from tapeflow.trading.risk import RiskDecision, RiskEvent, RiskManager
from tapeflow.trading.settings import (
    PaperSettings,
    RiskSettings,
    TradingSettings,
    TradingState,
    load_settings,
)
from tapeflow.trading.snapshot import AccountSnapshot, LimitGauge, PositionView

__all__ = [
    "Account",
    "AccountSnapshot",
    "AutoDecision",
    "AutoTrader",
    "Bracket",
    "EventKind",
    "Fill",
    "KillSwitch",
    "KillSwitchEvent",
    "KillSwitchState",
    "Ledger",
    "LimitGauge",
    "Order",
    "OrderEvent",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "PaperBroker",
    "PaperSettings",
    "PositionView",
    "RiskDecision",
    "RiskEvent",
    "RiskManager",
    "RiskSettings",
    "RoundTrip",
    "Source",
    "SubmitResult",
    "TradingSettings",
    "TradingState",
    "load_settings",
]
