"""CME equity-index futures we trade: tick size, tick value, symbols and contract months.

Prices inside the core are integer ticks; these helpers are the only place that converts to and
from exchange prices, and they do it exactly (``Decimal``), never through binary floats.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

import numpy as np

from tapeflow.errors import TapeflowError

MONTH_CODES = "FGHJKMNQUVXZ"
"""CME month letters, January (F) to December (Z)."""

QUARTERLY_CODES = "HMUZ"
"""Equity-index futures list March, June, September and December contracts."""

PRICE_SCALE = 1_000_000_000
"""Databento and most binary feeds carry prices as int64 in units of 1e-9."""


@dataclass(frozen=True, slots=True)
class Instrument:
    """A futures product (not one contract month): what a tick is and what it is worth."""

    root: str
    name: str
    exchange: str
    tick_size: Decimal  # index points per tick
    tick_value: Decimal  # USD per tick per contract
    currency: str = "USD"
    price_decimals: int = 2
    es_tenths: int = 10
    """Exposure of one contract in tenths of an ES-equivalent contract: 10 for an E-mini, 1 for a
    micro (1 ES = 10 MES). An E-mini of any index counts as one ES (see :data:`ES_EQUIVALENCE`)."""
    tape_of: str | None = None
    """The product whose tape this one trades on when it has no feed of its own: the micro trades
    on its E-mini's book (same prices, same queue), at one tenth of the value."""

    @property
    def point_value(self) -> Decimal:
        """USD per full index point per contract."""
        return self.tick_value / self.tick_size

    @property
    def tick_size_nanos(self) -> int:
        """Tick size in 1e-9 price units (250_000_000 for 0.25)."""
        return int(self.tick_size * PRICE_SCALE)

    @property
    def tick_value_cents(self) -> int:
        """Tick value in integer US cents (1250 for ES)."""
        return int(self.tick_value * 100)

    def to_ticks(self, price: Decimal | str | int | float) -> int:
        """Exchange price to ticks; raises if the price is not on the tick grid."""
        try:
            p = Decimal(str(price)) if not isinstance(price, Decimal) else price
            if not p.is_finite():
                raise InvalidOperation
            q, r = divmod(p, self.tick_size)
        except InvalidOperation:  # not a number, infinite, or too large for the decimal context
            raise TapeflowError(f"price {price} is not a usable {self.root} price") from None
        if r != 0:
            raise TapeflowError(f"price {price} is not a multiple of the {self.root} tick {self.tick_size}")
        return int(q)

    def to_price(self, ticks: int) -> Decimal:
        """Ticks to the exchange price, exact."""
        return (self.tick_size * int(ticks)).quantize(Decimal(1).scaleb(-self.price_decimals))

    def format_price(self, ticks: int) -> str:
        """Ticks as the price a trader reads (``5528.75``)."""
        return f"{self.to_price(ticks):.{self.price_decimals}f}"

    def ticks_to_points(self, ticks: np.ndarray | int) -> np.ndarray | float:
        """Vectorized ticks -> float index points, for display and JSON only (never for money)."""
        return ticks * float(self.tick_size)


INSTRUMENTS: dict[str, Instrument] = {
    i.root: i
    for i in (
        Instrument("ES", "E-mini S&P 500", "CME", Decimal("0.25"), Decimal("12.50")),
        Instrument(
            "MES", "Micro E-mini S&P 500", "CME", Decimal("0.25"), Decimal("1.25"), es_tenths=1, tape_of="ES"
        ),
        Instrument("NQ", "E-mini Nasdaq-100", "CME", Decimal("0.25"), Decimal("5.00")),
        Instrument(
            "MNQ", "Micro E-mini Nasdaq-100", "CME", Decimal("0.25"), Decimal("0.50"), es_tenths=1, tape_of="NQ"
        ),
    )
}


ES_EQUIVALENCE = "contracts"
"""How the account-wide exposure limit compares ES with NQ: by contract count, not notional. An
E-mini (ES or NQ) is one ES-equivalent, a micro (MES, MNQ) a tenth, long or short alike (gross:
a long ES and a short MES do not net, since they are not the same contract). Why not notional: it moves with
every print (a position could cross the limit without any order), and prop-firm contract limits,
which this limit mirrors, count a mini as a mini whatever the index. A trader who wants NQ to weigh
more caps it per instrument (``[risk.instruments.NQ] max_position``)."""


def es_equivalent_tenths(root: str, qty: int) -> int:
    """Exposure of ``qty`` contracts of ``root`` in tenths of an ES contract (exact integers)."""
    return abs(qty) * instrument(root).es_tenths


@dataclass(frozen=True, slots=True)
class ContractSymbol:
    """A parsed symbol: the product and, for a dated contract, its month and year."""

    instrument: Instrument
    month: int | None = None  # 1..12; None for a continuous symbol
    year: int | None = None
    continuous_rank: int | None = None  # 1 for ``ES1!`` (front month)

    @property
    def code(self) -> str:
        """Canonical exchange code, ``ESZ6`` style (or ``ES1!`` for continuous)."""
        if self.month is None or self.year is None:
            return f"{self.instrument.root}{self.continuous_rank or 1}!"
        return f"{self.instrument.root}{MONTH_CODES[self.month - 1]}{self.year % 10}"


_SYMBOL_RE = re.compile(
    r"^(?:[A-Z][A-Z0-9_]*:|/)?(?P<root>MES|MNQ|ES|NQ)"
    r"(?:(?P<cont>\d)!|(?P<month>[FGHJKMNQUVXZ])(?P<year>\d{1,4})"
    r"|(?P<nt_month>\d{1,2})-(?P<nt_year>\d{2})|(?P<mon>[A-Z]{3})(?P<mon_year>\d{2})|)$"
)
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def instrument(root: str) -> Instrument:
    """The product for a root symbol (``ES``, ``MES``, ``NQ``, ``MNQ``)."""
    try:
        return INSTRUMENTS[root.upper()]
    except KeyError:
        known = ", ".join(INSTRUMENTS)
        raise TapeflowError(f"unknown instrument {root!r}; known: {known}") from None


def parse_symbol(symbol: str, today: date | None = None) -> ContractSymbol:
    """Parse ``ESZ6``, ``ESZ26``, ``MESZ2026``, ``ES1!``, ``ES2!``, ``CME_MINI:ES1!``, NinjaTrader's
    ``ES 12-25`` and ``ES DEC25``, ``/ES`` or a bare root (a bare root is the front month).

    A one-digit year is the first such year not more than one year in the past relative to
    ``today`` (CME lists about a year and a half ahead), so ``ESZ6`` read in 2026 is December 2026.
    """
    return _parse_symbol(symbol, today or date.today())


@functools.lru_cache(maxsize=256)
def _parse_symbol(symbol: str, today: date) -> ContractSymbol:
    s = symbol.strip().upper().replace(" ", "")
    m = _SYMBOL_RE.match(s)
    if not m:
        raise TapeflowError(
            f"cannot parse instrument symbol {symbol!r} (expected e.g. ESZ6, MESZ2026, ES1!, ES 12-25)"
        )
    inst = INSTRUMENTS[m["root"]]
    if m["cont"]:
        if m["cont"] == "0":
            raise TapeflowError(f"{symbol!r}: continuous contracts count from 1 (ES1! is the front month)")
        return ContractSymbol(inst, continuous_rank=int(m["cont"]))
    if m["nt_month"]:
        month = int(m["nt_month"])
        if not 1 <= month <= 12:
            raise TapeflowError(f"{symbol!r}: month {month} is not 1 to 12")
        return ContractSymbol(inst, month=month, year=2000 + int(m["nt_year"]))
    if m["mon"]:
        if m["mon"] not in _MONTH_NAMES:
            raise TapeflowError(f"{symbol!r}: {m['mon']} is not a month name (JAN ... DEC)")
        return ContractSymbol(inst, month=_MONTH_NAMES.index(m["mon"]) + 1, year=2000 + int(m["mon_year"]))
    if not m["month"]:
        return ContractSymbol(inst, continuous_rank=1)
    month = MONTH_CODES.index(m["month"]) + 1
    y = m["year"]
    if len(y) == 4:
        year = int(y)
    else:
        ref = today.year
        digits = len(y)
        mod = 10**digits
        year = ref - ref % mod + int(y)
        if year < ref - 1:
            year += mod
    return ContractSymbol(inst, month=month, year=year)


def contract_month(sym: ContractSymbol, on: date) -> tuple[int, int]:
    """(year, month) a symbol means on a date: its own month, or for ``ES<n>!`` the n-th quarterly
    contract counting the front month (see :func:`front_month`) as the first."""
    if sym.month is not None and sym.year is not None:
        return sym.year, sym.month
    year, month = front_month(on)
    for _ in range((sym.continuous_rank or 1) - 1):
        month += 3
        if month > 12:
            month, year = month - 12, year + 1
    return year, month


def feed_contract(root: str, symbols: list[str]) -> str:
    """The dated contract (``ESU4``, as the feed writes it) a feed of ``root`` carries; ``root`` when
    no symbol names a month (a continuous or undated feed: then the front month is assumed). The
    year digit is resolved later against the tape's date, so a 2024 recording stays 2024."""
    for raw in symbols:
        try:
            sym = parse_symbol(raw)
        except TapeflowError:
            continue
        if sym.instrument.root == root and sym.month is not None:
            return raw.strip()
    return root


def month_label(root: str, year: int, month: int) -> str:
    """``ESZ5 (December 2025)``: the exchange code and the month a person reads."""
    name = date(year, month, 1).strftime("%B")
    return f"{root}{MONTH_CODES[month - 1]}{year % 10} ({name} {year})"


def front_month(on: date, roll_days_before_expiry: int = 8) -> tuple[int, int]:
    """(year, month) of the front quarterly contract on a date.

    Equity-index futures expire on the third Friday of the contract month; volume rolls to the
    next contract about eight days earlier (the Thursday of the week before), which is what a
    scalper calls the front month.
    """
    year, month = on.year, on.month
    while True:
        if MONTH_CODES[month - 1] in QUARTERLY_CODES:
            expiry = third_friday(year, month)
            if (expiry - on).days > roll_days_before_expiry:
                return year, month
        month += 1
        if month > 12:
            month, year = 1, year + 1


def third_friday(year: int, month: int) -> date:
    """Expiry day of an equity-index future."""
    first = date(year, month, 1)
    offset = (4 - first.weekday()) % 7  # Friday is weekday 4
    return date(year, month, 1 + offset + 14)
