"""Time-and-sales CSV files (one trade per row, optionally with the book at that trade).

Accepted columns (header names are case-insensitive; spaces and dashes count as ``_``):

- ``timestamp`` (also ``time``, ``datetime``, ``ts``, ``date_time``): ISO-like text
  (``2025-10-20 18:08:56.500``, ``...T...Z``, ``+02:00`` offsets, up to 9 fractional digits) or an
  epoch number in s, ms, us or ns (told apart by magnitude). A time without offset is read in
  the ``tz`` zone (``zoneinfo`` name).
- ``price`` (``last``, ``precio``): the trade price; must be on the instrument's tick grid.
- ``size`` (``volume``, ``qty``, ``quantity``, ``volumen``): contracts, > 0.
- optional ``side`` (``aggressor``, ``lado``): ``ASK``/``A``/``BUY``/``B`` = buyer aggressor
  (traded at the ask), ``BID``/``S``/``SELL`` = seller aggressor, case-insensitive. When a file
  uses ``A`` and ``B`` (and no ``S``) the ``B`` means *bid* (seller); this is noted in
  ``info.notes``. Empty / ``N`` / ``NONE`` means unknown and is inferred like a missing column.
- optional ``bid`` / ``ask`` (``bid_price``, ``ask_price``): best prices at the trade.
- optional ``dom_bid`` / ``dom_ask``: JSON objects ``{price: size}`` of the book at the trade;
  they become ``LEVEL`` rows keyed by price (``level = LEVEL_UNKNOWN``), emitted only for prices
  whose size changed since the previous row; a price that disappears gets size 0.

Separators: ``,`` with ``.`` decimals, or ``;`` with ``,`` decimals (sniffed from the header).
The DOM JSON may be left unquoted (as the recorders we know write it): ``{...}`` groups are
lifted out of the line before the ``csv`` module splits it. One record per line.

Without a usable side the aggressor is inferred from the bid/ask at the trade (price >= ask:
buyer, <= bid: seller; DOM best levels count as bid/ask), else by the tick rule; each inferred
trade is counted in ``stats.inferred_side`` and ``info.notes`` says so. Bad rows are counted per
reason in ``stats.malformed`` and skipped; ``bad_rows`` keeps the first few line numbers.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from tapeflow.core.events import EVENT_DTYPE, LEVEL_UNKNOWN, Kind, Side
from tapeflow.core.instruments import INSTRUMENTS, Instrument, parse_symbol
from tapeflow.errors import TapeflowError
from tapeflow.feeds.base import FeedInfo, FeedStats

ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("timestamp", "time", "datetime", "date_time", "ts"),
    "price": ("price", "last", "precio", "trade_price"),
    "size": ("size", "volume", "qty", "quantity", "volumen", "vol"),
    "side": ("side", "aggressor", "aggressor_side", "lado"),
    "bid": ("bid", "bid_price", "best_bid"),
    "ask": ("ask", "ask_price", "best_ask", "offer"),
    "dom_bid": ("dom_bid",),
    "dom_ask": ("dom_ask",),
}
_BUY_WORDS = frozenset({"ASK", "A", "BUY", "BUYER", "AT_ASK", "AT ASK"})
_SELL_WORDS = frozenset({"BID", "S", "SELL", "SELLER", "AT_BID", "AT BID"})
_NONE_WORDS = frozenset({"", "N", "NONE", "UNKNOWN", "?"})
_BRACES = re.compile(r"\{[^{}]*\}")
_FRACTION = re.compile(r"(\d{2}:\d{2}:\d{2})[.,](\d{1,9})")
MAX_BAD_ROW_SAMPLES = 20
BATCH_ROWS = 65536


class _BadRowError(Exception):
    """A row that cannot be used; the message is the malformed reason."""


def _header_key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _map_columns(path: Path, header: list[str]) -> dict[str, int]:
    keys = [_header_key(h) for h in header]
    cols: dict[str, int] = {}
    for field, names in ALIASES.items():
        for i, k in enumerate(keys):
            if k in names:
                cols[field] = i
                break
    missing = [f for f in ("ts", "price", "size") if f not in cols]
    if missing:
        raise TapeflowError(f"{path}: CSV header {header} has no column for {', '.join(missing)}")
    return cols


def _guess_instrument(path: Path, symbol: str | None, instrument: Instrument | str | None) -> Instrument:
    if isinstance(instrument, Instrument):
        return instrument
    if instrument or symbol:
        return parse_symbol(str(instrument or symbol)).instrument
    tokens = re.split(r"[^A-Za-z0-9]+", path.stem.upper())
    roots = [t for t in tokens if t in INSTRUMENTS]
    if len(set(roots)) == 1:
        return INSTRUMENTS[roots[0]]
    raise TapeflowError(f"{path}: cannot tell the instrument from the file name; pass symbol= (e.g. 'NQ')")


class _Clock:
    """Timestamp text/number -> UTC ns; a naive time is local to ``tz`` (offset cached per hour)."""

    def __init__(self, tz: str) -> None:
        try:
            self.zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise TapeflowError(f"unknown time zone {tz!r} (expected e.g. 'UTC', 'Europe/Madrid')") from None
        self._offsets: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        t = text.strip()
        if not t:
            raise _BadRowError("missing timestamp")
        if re.fullmatch(r"\d+(\.\d+)?", t):
            return _epoch_ns(t)
        nanos = 0
        m = _FRACTION.search(t)
        if m:
            nanos = int(m[2].ljust(9, "0"))
            t = t[: m.start()] + m[1] + t[m.end() :]
        t = t.replace("/", "-")
        if t.endswith(("Z", "z")):
            t = t[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(t)
        except ValueError:
            raise _BadRowError("bad timestamp") from None
        if dt.tzinfo is None:
            key = t[:13]
            off = self._offsets.get(key)
            if off is None:
                off = int(self.zone.utcoffset(dt).total_seconds())
                self._offsets[key] = off
            secs = int(dt.replace(tzinfo=ZoneInfo("UTC")).timestamp()) - off
        else:
            secs = int(dt.timestamp())
        return secs * 1_000_000_000 + nanos


def _epoch_ns(t: str) -> int:
    """Epoch number to ns: < 1e11 is seconds, < 1e14 ms, < 1e17 us, else ns."""
    d = Decimal(t)
    if d < Decimal(10) ** 11:
        d *= 10**9
    elif d < Decimal(10) ** 14:
        d *= 10**6
    elif d < Decimal(10) ** 17:
        d *= 10**3
    return int(d)


class CsvTradesSource:
    """An ``EventSource`` over a time-and-sales CSV (see the module docstring for the format).

    ``instrument``/``symbol`` name the product (else it is guessed from the file name);
    ``tz`` is the zone of timestamps written without an offset.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        instrument: Instrument | str | None = None,
        tz: str = "UTC",
        symbol: str | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise TapeflowError(f"{self.path}: no such file")
        self._clock = _Clock(tz)
        inst = _guess_instrument(self.path, symbol, instrument)
        self.tz = tz
        self.sep, self.decimal, header = self._sniff()
        self.columns = _map_columns(self.path, header)
        self.info = FeedInfo(
            source=str(self.path),
            schema="csv-tas",
            instrument=inst,
            symbols=[symbol] if symbol else [inst.root],
        )
        self.stats = FeedStats()
        self.bad_rows: list[tuple[int, str]] = []  # (line number, reason), first few only
        self._side_words = self._side_map()

    # ------------------------------------------------------------------ file shape

    def _lines(self) -> Iterator[tuple[int, str]]:
        with self.path.open(encoding="utf-8-sig", newline="") as f:
            for lineno, line in enumerate(f, start=1):
                yield lineno, line.rstrip("\r\n")

    def _sniff(self) -> tuple[str, str, list[str]]:
        for _, line in self._lines():
            if not line.strip():
                continue
            plain = _BRACES.sub("", line)
            sep = ";" if plain.count(";") > plain.count(",") else ","
            header = next(csv.reader([line], delimiter=sep))
            return sep, ("," if sep == ";" else "."), header
        raise TapeflowError(f"{self.path}: empty CSV file (no header)")

    def _split(self, line: str) -> tuple[list[str], list[str]]:
        """Fields of a line, with unquoted ``{...}`` groups lifted out (placeholders ``\\x00i``)."""
        groups: list[str] = []

        def lift(m: re.Match[str]) -> str:
            groups.append(m[0])
            return f"\x00{len(groups) - 1}"

        fields = next(csv.reader([_BRACES.sub(lift, line)], delimiter=self.sep), [])
        return fields, groups

    def _side_map(self) -> dict[str, int | None]:
        """Token -> Side (None: infer). Pre-scans the side column to read a lone 'B' right."""
        col = self.columns.get("side")
        if col is None:
            return {}
        seen: set[str] = set()
        for i, (_, line) in enumerate(self._lines()):
            if i == 0 or not line:
                continue
            fields, _ = self._split(line)
            if col < len(fields):
                seen.add(fields[col].strip().upper())
            if len(seen) > 50:
                break
        words: dict[str, int | None] = {w: Side.BUY for w in _BUY_WORDS}
        words.update({w: Side.SELL for w in _SELL_WORDS})
        words.update({w: None for w in _NONE_WORDS})
        words["B"] = Side.BUY
        if "A" in seen and "S" not in seen and "B" in seen:
            words["B"] = Side.SELL
            self.info.notes.append("side 'B' read as bid (seller aggressor): the file also uses 'A' for ask")
        return words

    # ------------------------------------------------------------------ rows

    def _number(self, text: str, field: str) -> Decimal:
        t = text.strip()
        if not t:
            raise _BadRowError(f"missing {field}")
        if self.decimal == ",":
            t = t.replace(",", ".")
        try:
            return Decimal(t)
        except InvalidOperation:
            raise _BadRowError(f"bad number in {field}") from None

    def _ticks(self, value: Decimal) -> int:
        q, r = divmod(value, self.info.instrument.tick_size)
        if r != 0:
            raise _BadRowError("off-tick price")
        return int(q)

    def _price(self, fields: list[str], field: str) -> int:
        return self._ticks(self._number(fields[self.columns[field]], field))

    def _dom(self, fields: list[str], groups: list[str], field: str) -> dict[int, int] | None:
        col = self.columns.get(field)
        if col is None or col >= len(fields):
            return None
        text = fields[col].strip()
        if text.startswith("\x00"):
            text = groups[int(text[1:])]
        if not text:
            return None
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict):
                raise ValueError
            book = {}
            for p, s in raw.items():
                size = int(self._number(str(s), field))
                if size < 0:
                    raise _BadRowError(f"negative size in {field}")
                if size:
                    book[self._ticks(self._number(str(p), field))] = size
            return book
        except (ValueError, TypeError, AttributeError):
            raise _BadRowError(f"unreadable {field} JSON") from None

    def _parse(self, fields: list[str], groups: list[str]) -> dict:
        """One row -> dict of parsed values (raises ``_BadRowError``)."""
        c = self.columns
        if len(fields) <= max(c["ts"], c["price"], c["size"]):
            raise _BadRowError("missing field")
        row = {
            "ts": self._clock(fields[c["ts"]]),
            "price": self._price(fields, "price"),
        }
        size = self._number(fields[c["size"]], "size")
        if size < 0:
            raise _BadRowError("negative size")
        if size == 0 or size != size.to_integral_value():
            raise _BadRowError("zero or fractional size")
        row["size"] = int(size)
        row["side"] = None
        if "side" in c and c["side"] < len(fields):
            word = fields[c["side"]].strip().upper()
            if word not in self._side_words:
                raise _BadRowError("unknown side value")
            row["side"] = self._side_words[word]
        for f in ("bid", "ask"):
            row[f] = None
            if f in c and c[f] < len(fields) and fields[c[f]].strip():
                row[f] = self._price(fields, f)
        row["dom_bid"] = self._dom(fields, groups, "dom_bid")
        row["dom_ask"] = self._dom(fields, groups, "dom_ask")
        return row

    def _bad(self, lineno: int, reason: str) -> None:
        self.stats.skip(reason)
        if len(self.bad_rows) < MAX_BAD_ROW_SAMPLES:
            self.bad_rows.append((lineno, reason))

    # ------------------------------------------------------------------ iteration

    def __iter__(self) -> Iterator[np.ndarray]:
        self.stats = FeedStats()
        self.bad_rows = []
        self.info.notes = [n for n in self.info.notes if not n.startswith("aggressor side inferred")]
        state = _InferState()
        out: list[tuple] = []
        lines = self._lines()
        next(lines, None)  # header
        for lineno, line in lines:
            if not line.strip():
                continue
            self.stats.records += 1
            try:
                row = self._parse(*self._split(line))
            except _BadRowError as e:
                self._bad(lineno, str(e))
                continue
            self._emit(row, lineno, state, out)
            if len(out) >= BATCH_ROWS:
                yield self._batch(out)
                out = []
        if out:
            yield self._batch(out)
        if state.by_quote or state.by_tick:
            self.info.notes.append(
                f"aggressor side inferred for {state.by_quote + state.by_tick} trades: "
                f"{state.by_quote} from bid/ask, {state.by_tick} by the tick rule"
            )
        self.info.start_ns, self.info.end_ns = self.stats.first_ts, self.stats.last_ts

    def _emit(self, row: dict, lineno: int, state: _InferState, out: list[tuple]) -> None:
        ts = row["ts"]
        for side, field in ((Side.BUY, "dom_bid"), (Side.SELL, "dom_ask")):
            book = row[field]
            if book is None:
                continue
            prev = state.dom[side]
            changed = [(p, s) for p, s in book.items() if prev.get(p) != s]
            changed += [(p, 0) for p in prev if p not in book]
            changed.sort(reverse=side == Side.BUY)
            for p, s in changed:
                out.append((ts, ts, p, 0, s, 0, lineno, 0, Kind.LEVEL, side, LEVEL_UNKNOWN, 0, 0, (0, 0, 0)))
            state.dom[side] = book
        side = row["side"]
        if side is None:
            side = state.infer(row)
            self.stats.inferred_side += 1
        state.last_price, state.last_side = row["price"], int(side)
        price, size, t = row["price"], row["size"], ord("T")
        out.append((ts, ts, price, 0, size, 0, lineno, 0, Kind.TRADE, side, LEVEL_UNKNOWN, t, 0, (0, 0, 0)))

    def _batch(self, rows: list[tuple]) -> np.ndarray:
        batch = np.array(rows, dtype=EVENT_DTYPE)
        self.stats.count_batch(batch)
        return batch


class _InferState:
    """What aggressor inference needs from earlier rows: last price, side, DOM."""

    def __init__(self) -> None:
        self.last_price: int | None = None
        self.last_side = int(Side.NONE)
        self.by_quote = 0
        self.by_tick = 0
        self.dom: dict[int, dict[int, int]] = {Side.BUY: {}, Side.SELL: {}}

    def infer(self, row: dict) -> int:
        """Buyer if price >= ask, seller if <= bid, else the tick rule (zero tick keeps the side)."""
        price = row["price"]
        bid, ask = row["bid"], row["ask"]
        if bid is None and row["dom_bid"]:
            bid = max(row["dom_bid"])
        if ask is None and row["dom_ask"]:
            ask = min(row["dom_ask"])
        if ask is not None and price >= ask:
            self.by_quote += 1
            side = int(Side.BUY)
        elif bid is not None and price <= bid:
            self.by_quote += 1
            side = int(Side.SELL)
        else:
            self.by_tick += 1
            if self.last_price is None or price == self.last_price:
                side = self.last_side
            else:
                side = int(Side.BUY) if price > self.last_price else int(Side.SELL)
        self.last_side = side
        return side
