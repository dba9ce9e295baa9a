"""Trading settings: risk limits, paper-broker costs and auto-trader behaviour, from TOML.

Settings are frozen: the risk panel edits a copy (``dataclasses.replace``) and hands the new
object to the account, so a check never sees half-edited limits. Money is written in USD in the
file (``daily_loss_limit_usd = 500``) and held in integer cents. A limit left out (or 0) is off.
Errors name the file and the key: ``risk.toml: [risk] max_position: expected an integer, got 'two'``.

Several instruments share one account: daily loss, trailing drawdown, trade count, loss streaks and
``max_total_exposure_es`` are account-wide; ``max_position``, ``max_order_qty`` and
``max_stop_ticks`` are per instrument, the ``[risk]`` value being the default that a
``[risk.instruments.ROOT]`` table overrides. Exposure counts contracts: an E-mini (ES or NQ) is one
ES-equivalent and a micro (MES, MNQ) a tenth, so ``max_total_exposure_es = 2`` allows 1 ES + 10 MES,
or 1 ES + 1 NQ, but not 2 ES + 1 MNQ; it may be given in tenths (``1.5``). It is gross: a long ES
and a short MES add up (1.1), they do not net, and working entries count as if they filled. NQ is
not weighed by notional (see ``tapeflow.core.instruments.ES_EQUIVALENCE``): cap it with its own
``max_position``. ``max_stop_ticks`` refuses an entry whose bracket stop is wider, in the
instrument's own ticks; whether an entry needs a stop at all is ``require_stop_for_automation``.
Paper costs work the same way: ``[paper]`` commission and exchange fee are the defaults and a
``[paper.instruments.ROOT]`` table overrides either (exact cents; 0 there means free).

Example::

    [risk]
    max_position = 2                 # contracts, net, per instrument (default for every instrument)
    max_order_qty = 2                # contracts per order (default for every instrument)
    max_total_exposure_es = 2        # account-wide, ES-equivalent contracts (1 ES = 1 NQ = 10 MES)
    # max_stop_ticks = 16            # widest bracket stop an entry may carry (default per instrument)
    daily_loss_limit_usd = 500       # realized + unrealized, per trading date
    trailing_drawdown_usd = 2000     # from the equity high-water mark (prop-firm style)
    max_trades_per_day = 10          # round trips opened per trading date
    max_consecutive_losses = 3       # then pause for loss_pause_minutes (0 = rest of the day)
    loss_pause_minutes = 30
    cooldown_after_loss_seconds = 60
    trading_windows = ["09:30-11:30", "13:30-15:50"]   # ET; entries only inside
    require_stop_for_automation = true
    no_entries_before_close_minutes = 10
    session_close = "rth"            # "rth" (16:00 ET) or "eth" (17:00 ET)
    on_daily_loss = "halted"         # or "reducing"
    on_drawdown = "halted"

    [risk.instruments.MES]           # overrides of the defaults above for one instrument
    max_position = 10                # a micro is a tenth of an E-mini: 10 MES = 1 ES (0 = off for MES)
    max_order_qty = 10

    [risk.instruments.MNQ]
    max_position = 10
    max_order_qty = 10

    [paper]
    slippage_ticks = 1               # market and stop orders
    commission_usd = 0.59            # per contract per side
    exchange_fee_usd = 1.38          # per contract per side
    latency_ms = 5

    [paper.instruments.MES]          # a micro pays a fraction of an E-mini's fees
    commission_usd = 0.20
    exchange_fee_usd = 0.35

    [paper.instruments.MNQ]
    commission_usd = 0.20
    exchange_fee_usd = 0.35

    [auto]
    one_position_per_instrument = true
    entry_type = "market"            # or "limit" (at the signal price)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

from tapeflow.core.instruments import INSTRUMENTS
from tapeflow.errors import TapeflowError


class TradingState(StrEnum):
    """Per-account state (nautilus_trader style)."""

    ACTIVE = "active"  # all orders that pass the limits
    REDUCING = "reducing"  # only orders that shrink the position
    HALTED = "halted"  # no new orders; only the risk manager's own flatten


@dataclass(frozen=True, slots=True)
class Window:
    """A daily ET wall-clock window [start, end); end before start wraps past midnight."""

    start: time
    end: time

    def contains(self, t: time) -> bool:
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


@dataclass(frozen=True, slots=True)
class InstrumentLimits:
    """One instrument's limits. In ``RiskSettings.instruments`` (overrides) ``None`` means "the
    account-wide default" and 0 "off for this instrument"; from :meth:`RiskSettings.limits_for`
    (in force) ``None`` means off."""

    max_position: int | None = None
    max_order_qty: int | None = None
    max_stop_ticks: int | None = None


@dataclass(frozen=True, slots=True)
class RiskSettings:
    """Limits checked on every order. ``None`` = rule off. Money in cents, sizes in contracts."""

    max_position: int | None = None  # per instrument: the default of ``instruments``
    max_order_qty: int | None = None  # per instrument
    max_stop_ticks: int | None = None  # per instrument: widest bracket stop of an entry
    max_exposure_tenths: int | None = None  # account-wide, tenths of an ES-equivalent contract
    instruments: dict[str, InstrumentLimits] = field(default_factory=dict)  # root -> overrides
    daily_loss_limit_cents: int | None = None
    trailing_drawdown_cents: int | None = None
    max_trades_per_day: int | None = None
    max_consecutive_losses: int | None = None
    loss_pause_minutes: int = 0  # 0: paused for the rest of the trading date
    cooldown_after_loss_seconds: int = 0
    trading_windows: tuple[Window, ...] = ()  # empty: any time
    require_stop_for_automation: bool = True
    no_entries_before_close_minutes: int = 0
    session_close: str = "eth"  # "rth" or "eth"
    on_daily_loss: TradingState = TradingState.HALTED
    on_drawdown: TradingState = TradingState.HALTED
    starting_balance_cents: int = 0  # equity baseline for the drawdown figures

    def limits_for(self, root: str) -> InstrumentLimits:
        """The per-instrument limits in force for ``root``: its overrides over the defaults."""
        o = self.instruments.get(root)
        if o is None:
            return InstrumentLimits(self.max_position, self.max_order_qty, self.max_stop_ticks)

        def pick(own: int | None, default: int | None) -> int | None:
            v = default if own is None else own
            return v or None

        return InstrumentLimits(
            pick(o.max_position, self.max_position),
            pick(o.max_order_qty, self.max_order_qty),
            pick(o.max_stop_ticks, self.max_stop_ticks),
        )


@dataclass(frozen=True, slots=True)
class InstrumentCosts:
    """One instrument's paper costs (``[paper.instruments.ROOT]``); ``None`` = the ``[paper]`` default."""

    commission_cents: int | None = None
    exchange_fee_cents: int | None = None


@dataclass(frozen=True, slots=True)
class PaperSettings:
    """Paper broker costs and timing. Costs are per contract per side; ``instruments`` overrides
    them per root, since a micro pays a fraction of an E-mini's fees."""

    slippage_ticks: int = 0  # added against us on market and stop fills
    commission_cents: int = 0  # per contract per side (default for every instrument)
    exchange_fee_cents: int = 0  # per contract per side (default for every instrument)
    latency_ns: int = 0  # an order is live at ts + latency of the tape
    instruments: dict[str, InstrumentCosts] = field(default_factory=dict)  # root -> overrides

    @property
    def cost_per_contract_cents(self) -> int:
        """The default cost (instruments without an override)."""
        return self.commission_cents + self.exchange_fee_cents

    def cost_per_contract_cents_for(self, root: str) -> int:
        """Commission plus exchange fee, per contract per side, that ``root``'s fills pay."""
        return sum(self.rates_for(root))

    def rates_for(self, root: str) -> tuple[int, int]:
        """(commission, exchange fee) per contract per side for ``root``: its override, else the default."""
        o = self.instruments.get(root)
        if o is None:
            return self.commission_cents, self.exchange_fee_cents
        commission = self.commission_cents if o.commission_cents is None else o.commission_cents
        fee = self.exchange_fee_cents if o.exchange_fee_cents is None else o.exchange_fee_cents
        return commission, fee


@dataclass(frozen=True, slots=True)
class AutoSettings:
    """How the auto-trader turns entry signals into orders."""

    one_position_per_instrument: bool = True
    entry_type: str = "market"  # or "limit" at the signal price


@dataclass(frozen=True, slots=True)
class TradingSettings:
    """Everything in a trading settings file."""

    risk: RiskSettings = field(default_factory=RiskSettings)
    paper: PaperSettings = field(default_factory=PaperSettings)
    auto: AutoSettings = field(default_factory=AutoSettings)


def _where(path: str, section: str, key: str) -> str:
    return f"{path}: [{section}] {key}"


MAX_COUNT = 1_000_000_000
"""Largest contracts, ticks, minutes or seconds a setting may hold: far above any sensible limit,
far below what the journal's 64-bit integers and the tick arithmetic can carry."""
MAX_USD = Decimal(10) ** 11
"""Largest amount in USD (a hundred billion): inf, nan and the like are refused by name."""
MAX_LATENCY_MS = 3_600_000


def _int(v: Any, where: str, minimum: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TapeflowError(f"{where}: expected an integer, got {v!r}")
    if v < minimum:
        raise TapeflowError(f"{where}: must be >= {minimum}, got {v}")
    if v > MAX_COUNT:
        raise TapeflowError(f"{where}: must be <= {MAX_COUNT}, got {v}")
    return v


def _cents(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise TapeflowError(f"{where}: expected an amount in USD, got {v!r}")
    try:
        usd = Decimal(str(v).strip())
    except InvalidOperation:
        raise TapeflowError(f"{where}: expected an amount in USD, got {v!r}") from None
    if not usd.is_finite() or usd > MAX_USD:
        raise TapeflowError(f"{where}: expected a finite amount in USD up to {MAX_USD:,}, got {v!r}")
    d = usd * 100
    if d != d.to_integral_value() or d < 0:
        raise TapeflowError(f"{where}: must be a non-negative whole number of cents, got {v!r}")
    return int(d)


def _tenths(v: Any, where: str) -> int:
    """ES-equivalent contracts (``2``, ``1.5``) in exact tenths."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TapeflowError(f"{where}: expected a number of ES-equivalent contracts, got {v!r}")
    d = Decimal(str(v)) * 10
    if not d.is_finite() or d != d.to_integral_value() or d < 0 or d > MAX_COUNT:
        raise TapeflowError(f"{where}: expected a non-negative number of contracts in tenths (1 MES = 0.1), got {v!r}")
    return int(d)


def _bool(v: Any, where: str) -> bool:
    if not isinstance(v, bool):
        raise TapeflowError(f"{where}: expected true or false, got {v!r}")
    return v


def _choice(v: Any, where: str, choices: tuple[str, ...]) -> str:
    if v not in choices:
        raise TapeflowError(f"{where}: expected one of {', '.join(choices)}, got {v!r}")
    return str(v)


def _hhmm(s: str, where: str) -> time:
    try:
        h, m = s.strip().split(":")
        return time(int(h), int(m))
    except ValueError:
        raise TapeflowError(f"{where}: bad time {s!r} (expected HH:MM)") from None


def parse_window(text: Any, where: str = "window") -> Window:
    """``"09:30-11:30"`` (ET) to a :class:`Window`."""
    if not isinstance(text, str) or text.count("-") != 1:
        raise TapeflowError(f"{where}: expected a window like '09:30-11:30', got {text!r}")
    a, b = text.split("-")
    return Window(_hhmm(a, where), _hhmm(b, where))


def _opt(v: Any, conv: Any, where: str) -> Any:
    out = conv(v, where)
    return None if out == 0 else out


_STATES = ("reducing", "halted")

_RISK_KEYS: dict[str, tuple[str, Any]] = {
    "max_position": ("max_position", lambda v, w: _opt(v, _int, w)),
    "max_order_qty": ("max_order_qty", lambda v, w: _opt(v, _int, w)),
    "max_stop_ticks": ("max_stop_ticks", lambda v, w: _opt(v, _int, w)),
    "max_total_exposure_es": ("max_exposure_tenths", lambda v, w: _opt(v, _tenths, w)),
    "daily_loss_limit_usd": ("daily_loss_limit_cents", lambda v, w: _opt(v, _cents, w)),
    "trailing_drawdown_usd": ("trailing_drawdown_cents", lambda v, w: _opt(v, _cents, w)),
    "max_trades_per_day": ("max_trades_per_day", lambda v, w: _opt(v, _int, w)),
    "max_consecutive_losses": ("max_consecutive_losses", lambda v, w: _opt(v, _int, w)),
    "loss_pause_minutes": ("loss_pause_minutes", _int),
    "cooldown_after_loss_seconds": ("cooldown_after_loss_seconds", _int),
    "trading_windows": (
        "trading_windows",
        lambda v, w: tuple(parse_window(x, f"{w}[{i}]") for i, x in enumerate(_list(v, w))),
    ),
    "require_stop_for_automation": ("require_stop_for_automation", _bool),
    "no_entries_before_close_minutes": ("no_entries_before_close_minutes", _int),
    "session_close": ("session_close", lambda v, w: _choice(v, w, ("rth", "eth"))),
    "on_daily_loss": ("on_daily_loss", lambda v, w: TradingState(_choice(v, w, _STATES))),
    "on_drawdown": ("on_drawdown", lambda v, w: TradingState(_choice(v, w, _STATES))),
    "starting_balance_usd": ("starting_balance_cents", _cents),
}

_INSTRUMENT_KEYS: dict[str, tuple[str, Any]] = {
    "max_position": ("max_position", _int),
    "max_order_qty": ("max_order_qty", _int),
    "max_stop_ticks": ("max_stop_ticks", _int),
}

_PAPER_KEYS: dict[str, tuple[str, Any]] = {
    "slippage_ticks": ("slippage_ticks", _int),
    "commission_usd": ("commission_cents", _cents),
    "exchange_fee_usd": ("exchange_fee_cents", _cents),
    "latency_ms": ("latency_ns", lambda v, w: int(Decimal(str(_nonneg_number(v, w, MAX_LATENCY_MS))) * 1_000_000)),
}

_COST_KEYS: dict[str, tuple[str, Any]] = {
    "commission_usd": ("commission_cents", _cents),
    "exchange_fee_usd": ("exchange_fee_cents", _cents),
}

_AUTO_KEYS: dict[str, tuple[str, Any]] = {
    "one_position_per_instrument": ("one_position_per_instrument", _bool),
    "entry_type": ("entry_type", lambda v, w: _choice(v, w, ("market", "limit"))),
}


def _list(v: Any, where: str) -> list[Any]:
    if not isinstance(v, list):
        raise TapeflowError(f"{where}: expected a list, got {v!r}")
    return v


def _nonneg_number(v: Any, where: str, maximum: float) -> float | int:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= maximum:  # nan fails too
        raise TapeflowError(f"{where}: expected a number from 0 to {maximum:g}, got {v!r}")
    return v


def _section(data: dict[str, Any], name: str, keys: dict[str, tuple[str, Any]], path: str, cls: type,
             **extra: Any) -> Any:
    raw = data.get(name.rpartition(".")[2], {})
    if not isinstance(raw, dict):
        raise TapeflowError(f"{path}: [{name}] must be a table")
    kwargs: dict[str, Any] = dict(extra)
    for key, value in raw.items():
        if key in extra:
            continue
        if key not in keys:
            known = ", ".join(keys)
            raise TapeflowError(f"{_where(path, name, key)}: unknown key (known: {known})")
        attr, conv = keys[key]
        kwargs[attr] = conv(value, _where(path, name, key))
    return cls(**kwargs)


OTHER_SECTIONS = ("webhook", "broker", "rithmic")
"""Tables of the same settings file that other packages read (``tapeflow.webhook.settings``,
``tapeflow.commands._live_mode``, ``tapeflow.rithmic.settings``)."""


def _instruments(data: dict[str, Any], path: str, section: str, keys: dict[str, tuple[str, Any]],
                 cls: type) -> dict[str, Any]:
    """``[SECTION.instruments.ROOT]`` tables: per-instrument overrides, keyed by a known root."""
    top = data.get(section, {})
    raw = top.get("instruments", {}) if isinstance(top, dict) else {}
    if not isinstance(raw, dict):
        raise TapeflowError(f"{path}: [{section}.instruments] must hold tables such as [{section}.instruments.MES]")
    out: dict[str, Any] = {}
    for key, table in raw.items():
        root = str(key).upper()
        if root not in INSTRUMENTS:
            known = ", ".join(INSTRUMENTS)
            raise TapeflowError(f"{path}: [{section}.instruments.{key}]: unknown instrument (known: {known})")
        out[root] = _section({root: table}, f"{section}.instruments.{root}", keys, path, cls)
    return out


def settings_from_dict(data: dict[str, Any], path: str = "<settings>") -> TradingSettings:
    """Validate a parsed TOML document; ``path`` is only used in error messages."""
    unknown = set(data) - {"risk", "paper", "auto", *OTHER_SECTIONS}
    if unknown:
        raise TapeflowError(f"{path}: unknown section [{sorted(unknown)[0]}] (known: risk, paper, auto)")
    return TradingSettings(
        risk=_section(data, "risk", _RISK_KEYS, path, RiskSettings,
                      instruments=_instruments(data, path, "risk", _INSTRUMENT_KEYS, InstrumentLimits)),
        paper=_section(data, "paper", _PAPER_KEYS, path, PaperSettings,
                       instruments=_instruments(data, path, "paper", _COST_KEYS, InstrumentCosts)),
        auto=_section(data, "auto", _AUTO_KEYS, path, AutoSettings),
    )


def load_settings(path: str | Path) -> TradingSettings:
    """Read a trading settings TOML file."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TapeflowError(f"{p}: settings file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise TapeflowError(f"{p}: not valid TOML: {e}") from None
    return settings_from_dict(data, str(p))
