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
  whose size changed since the previous row; a price that disappears gets size 0. Each price is
  its own level in every book that reads them (``flow.book``, ``trading.paper_book``).
  A line's rows are one exchange event: its DOM rows, then its print, which carries ``Flag.LAST``.

Separators: ``,`` with ``.`` decimals, or ``;`` with ``,`` decimals (sniffed from the header).
The DOM JSON may be left unquoted (as the recorders we know write it): ``{...}`` groups are
lifted out of the line before the ``csv`` module splits it. One record per line.

Rows must be in time order: a row out of order is counted as malformed (``row out of time
order``) and skipped, not sorted in. A streaming reader cannot sort without holding the whole
file, and such a row (a 2023 print in a 2024 file) is corruption, not a late print: the bar it
belongs to has long closed. Rows are held back to tell which row of an inversion is wrong: a
row dated ahead is the one dropped, not every row after it (``_TimeOrder``). ``tapeflow info``
shows the count.

Nothing in a file raises except a header we cannot read: undecodable (non-UTF-8) lines, lines
over ``MAX_LINE_BYTES``, non-finite or out-of-range numbers, timestamps outside
``1980..now + 2 days``, and implausible prices (``tapeflow.feeds.prices``: zero, negative, absurd
or far from the file's median) are each a counted malformed row.

Without a usable side the aggressor is inferred from the bid/ask at the trade (price >= ask:
buyer, <= bid: seller; DOM best levels count as bid/ask), else by the tick rule; each inferred
trade is counted in ``stats.inferred_side`` and ``info.notes`` says so. Bad rows are counted per
reason in ``stats.malformed`` and skipped; ``bad_rows`` keeps the first few line numbers.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from tapeflow.core.events import EVENT_DTYPE, LEVEL_UNKNOWN, Flag, Kind, Side
from tapeflow.core.instruments import INSTRUMENTS, Instrument, parse_symbol
from tapeflow.errors import TapeflowError
from tapeflow.feeds.base import FeedInfo, FeedStats
from tapeflow.feeds.prices import MAX_SIZE, PriceBand

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
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")
_FRACTION = re.compile(r"(\d{2}:\d{2}:\d{2})[.,](\d{1,9})")
MAX_BAD_ROW_SAMPLES = 20
BATCH_ROWS = 65536
MAX_LINE_BYTES = 1 << 20
MAX_DIGITS = 15  # no price or size we read has this many integer digits
MIN_TS_NS = 315_532_800 * 10**9  # 1980-01-01 UTC
FUTURE_SLACK_NS = 2 * 86_400 * 10**9
LEVEL_CACHE = 1 << 16  # DOM price texts remembered (book prices repeat row after row)
REFERENCE_ROWS = 256  # rows the price reference (median) is taken from
OUT_OF_ORDER = "row out of time order"
_NOT_UTF8 = "line is not UTF-8 text"
_TOO_LONG = f"line longer than {MAX_LINE_BYTES:,} bytes"
_NOT_UTF8_MARK = "\x00" + _NOT_UTF8
_TOO_LONG_MARK = "\x00" + _TOO_LONG
_MARKS = {_NOT_UTF8_MARK: _NOT_UTF8, _TOO_LONG_MARK: _TOO_LONG}


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
    if len(t) > 40:
        raise _BadRowError("bad timestamp")
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
        self._band = PriceBand(1 / inst.tick_size)
        self._level_ticks: dict[str, int] = {}  # DOM price text -> ticks (checked once: book prices repeat)
        self._max_ts = time.time_ns() + FUTURE_SLACK_NS
        self._side_words = self._side_map()

    # ------------------------------------------------------------------ file shape

    def _lines(self) -> Iterator[tuple[int, str | None]]:
        """(line number, text); the text is ``_NOT_UTF8`` or ``_TOO_LONG`` for a line we cannot
        use (both sentinels hold a NUL, which no decoded line we keep does)."""
        with self.path.open("rb") as f:
            lineno = 0
            while raw := f.readline(MAX_LINE_BYTES + 1):
                lineno += 1
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    while (rest := f.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                        pass
                    yield lineno, _TOO_LONG_MARK
                    continue
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    yield lineno, raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError:
                    yield lineno, _NOT_UTF8_MARK

    def _sniff(self) -> tuple[str, str, list[str]]:
        for _, line in self._lines():
            if line in _MARKS:
                raise TapeflowError(f"{self.path}: cannot read the CSV header: {_MARKS[line]}")
            if not line.strip():
                continue
            plain = _BRACES.sub("", line)
            sep = ";" if plain.count(";") > plain.count(",") else ","
            try:
                header = next(csv.reader([line], delimiter=sep))
            except csv.Error as e:
                raise TapeflowError(f"{self.path}: cannot read the CSV header: {e}") from None
            return sep, ("," if sep == ";" else "."), header
        raise TapeflowError(f"{self.path}: empty CSV file (no header)")

    def _split(self, line: str) -> tuple[list[str], list[str]]:
        """Fields of a line, with unquoted ``{...}`` groups lifted out (placeholders ``\\x00i\\x00``)."""
        groups: list[str] = []

        def lift(m: re.Match[str]) -> str:
            groups.append(m[0])
            return f"\x00{len(groups) - 1}\x00"

        if "\x00" in line:  # also the reader's own marks; NUL is never part of a good row
            raise _BadRowError(_MARKS.get(line, "NUL byte in line"))
        try:
            fields = next(csv.reader([_BRACES.sub(lift, line)], delimiter=self.sep), [])
        except csv.Error:
            raise _BadRowError("unreadable CSV row (field too large or bad quoting)") from None
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
            try:
                fields, _ = self._split(line)
            except _BadRowError:
                continue
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
            d = Decimal(t) if len(t) <= 40 else None
        except InvalidOperation:
            d = None
        if d is None or not d.is_finite():
            raise _BadRowError(f"bad number in {field}")
        if d and d.adjusted() >= MAX_DIGITS:
            raise _BadRowError(f"number out of range in {field}")
        return d

    def _ticks(self, value: Decimal) -> int:
        q, r = divmod(value, self.info.instrument.tick_size)
        if r != 0:
            raise _BadRowError("off-tick price")
        return int(q)

    def _price(self, fields: list[str], field: str) -> int:
        return self._plausible(self._ticks(self._number(fields[self.columns[field]], field)), field == "price")

    def _plausible(self, ticks: int, trade: bool) -> int:
        why = self._band.reason(ticks, trade)
        if why is not None:
            raise _BadRowError(why)
        return ticks

    def _level_size(self, s: object, field: str) -> int:
        size = self._number(str(s), field)
        if size != size.to_integral_value():
            raise _BadRowError(f"fractional or implausible size in {field}")
        return int(size) if size <= MAX_SIZE else MAX_SIZE + 1

    def _dom(self, fields: list[str], groups: list[str], field: str) -> dict[int, int] | None:
        col = self.columns.get(field)
        if col is None or col >= len(fields):
            return None
        text = fields[col].strip()
        if text.startswith("\x00"):
            m = _PLACEHOLDER.fullmatch(text)  # else a damaged line glued a group to other text
            if m is None:
                raise _BadRowError(f"unreadable {field} JSON")
            text = groups[int(m[1])]
        if not text:
            return None
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict):
                raise ValueError
            book = {}
            ticks_of = self._level_ticks
            for p, s in raw.items():
                size = s if type(s) is int else self._level_size(s, field)  # JSON integers: the usual case
                if size < 0:
                    raise _BadRowError(f"negative size in {field}")
                if size > MAX_SIZE:
                    raise _BadRowError(f"fractional or implausible size in {field}")
                if size:
                    ticks = ticks_of.get(p)
                    if ticks is None:
                        ticks = self._plausible(self._ticks(self._number(str(p), field)), False)
                        if len(ticks_of) < LEVEL_CACHE:
                            ticks_of[p] = ticks
                    book[ticks] = size
            return book
        except (ValueError, TypeError, AttributeError, RecursionError):
            raise _BadRowError(f"unreadable {field} JSON") from None

    def _parse(self, fields: list[str], groups: list[str]) -> dict:
        """One row -> dict of parsed values (raises ``_BadRowError``)."""
        c = self.columns
        if len(fields) <= max(c["ts"], c["price"], c["size"]):
            raise _BadRowError("missing field")
        ts = self._clock(fields[c["ts"]])
        if not MIN_TS_NS <= ts <= self._max_ts:
            raise _BadRowError("timestamp out of range (before 1980 or in the future)")
        row = {"ts": ts, "price": self._price(fields, "price")}
        size = self._number(fields[c["size"]], "size")
        if size < 0:
            raise _BadRowError("negative size")
        if size == 0 or size != size.to_integral_value():
            raise _BadRowError("zero or fractional size")
        if size > MAX_SIZE:
            raise _BadRowError("implausible size")
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
        self.info.notes = [n for n in self.info.notes if not _per_read_note(n)]  # a re-read writes them anew
        state = _InferState()
        out: list[tuple] = []
        self._band.reference = self._reference_price()
        self._max_ts = time.time_ns() + FUTURE_SLACK_NS
        order = _TimeOrder()
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
            ready, late = order.push(lineno, row)
            if late is not None:
                self._bad(late, OUT_OF_ORDER)
            if ready is not None:
                self._emit(ready[1], ready[0], state, out)
            if len(out) >= BATCH_ROWS:
                yield self._batch(out)
                out = []
        ready, late = order.flush()
        if late is not None:
            self._bad(late, OUT_OF_ORDER)
        if ready is not None:
            self._emit(ready[1], ready[0], state, out)
        if out:
            yield self._batch(out)
        if state.by_quote or state.by_tick:
            self.info.notes.append(
                f"aggressor side inferred for {state.by_quote + state.by_tick} trades: "
                f"{state.by_quote} from bid/ask, {state.by_tick} by the tick rule"
            )
        self._note_time_jump(order.behind)
        self.info.start_ns, self.info.end_ns = self.stats.first_ts, self.stats.last_ts

    def _note_time_jump(self, behind: dict[int, int]) -> None:
        """Name the row most out-of-order rows fell behind when they outnumber the trades kept:
        then that row's own time is the likely corruption (a print dated ahead), which a reader
        that does not sort cannot tell from the rows after it."""
        if not behind:
            return
        line, n = max(behind.items(), key=lambda kv: kv[1])
        if n >= 10 and n >= self.stats.trades:
            self.info.notes.append(
                f"{n:,} rows are earlier than line {line}: if that row's timestamp is wrong, fix or delete it"
            )

    def _reference_price(self) -> int | None:
        """Median trade price (ticks) of the first ``REFERENCE_ROWS`` rows with a usable price: what
        ``PriceBand`` measures 'far off' from, so a corrupt first row cannot become the yardstick."""
        self._band.reference = None
        found: list[int] = []
        for i, (_, line) in enumerate(self._lines()):
            if i == 0 or not line.strip():
                continue
            try:
                found.append(self._price(self._split(line)[0], "price"))
            except (_BadRowError, IndexError):
                continue
            if len(found) >= REFERENCE_ROWS:
                break
        return int(np.median(found)) if found else None

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
        last = int(Flag.LAST)  # the print is the line's last row: its DOM rows and it are one event
        out.append((ts, ts, price, 0, size, 0, lineno, 0, Kind.TRADE, side, LEVEL_UNKNOWN, t, last, (0, 0, 0)))

    def _batch(self, rows: list[tuple]) -> np.ndarray:
        batch = np.array(rows, dtype=EVENT_DTYPE)
        self.stats.count_batch(batch)
        return batch


class _TimeOrder:
    """Rows in time order, with up to two rows held back to tell which row of an inversion is
    wrong. A row earlier than the held row is a suspect; the next row decides: if it follows
    the held row, the suspect was dated back and is dropped; if it follows the suspect, the
    held row was dated ahead (a flipped digit) and is dropped. So one bad timestamp costs its
    own row, not every row after it. A row earlier than a row already let through is dropped."""

    def __init__(self) -> None:
        self.held: tuple[int, dict] | None = None  # (line number, row) next to let through
        self.suspect: tuple[int, dict] | None = None  # a row earlier than ``held``, not yet judged
        self.last: tuple[int, int] = (0, MIN_TS_NS)  # line and time of the last row let through
        self.behind: dict[int, int] = {}  # line of a row -> rows found earlier than it

    def push(self, lineno: int, row: dict) -> tuple[tuple[int, dict] | None, int | None]:
        """(row to let through now, line number of a row dropped as out of order); either may be None."""
        ts, held, suspect = row["ts"], self.held, self.suspect
        if ts < self.last[1]:
            return None, self._late(self.last[0], lineno)
        if held is None:
            self.held = (lineno, row)
            return None, None
        if suspect is None:
            if ts >= held[1]["ts"]:
                return self._through((lineno, row)), None
            self.suspect = (lineno, row)
            return None, None
        if ts >= held[1]["ts"]:  # the suspect was dated back
            self.suspect = None
            return self._through((lineno, row)), self._late(held[0], suspect[0])
        if ts >= suspect[1]["ts"]:  # the held row was dated ahead
            self.held, self.suspect = suspect, None
            return self._through((lineno, row)), self._late(held[0], held[0])
        return None, self._late(suspect[0], lineno)

    def flush(self) -> tuple[tuple[int, dict] | None, int | None]:
        """At the end: the held row, and an unjudged suspect counted as out of order."""
        held, suspect = self.held, self.suspect
        self.held = self.suspect = None
        return held, (self._late(held[0], suspect[0]) if suspect is not None and held is not None else None)

    def _through(self, new: tuple[int, dict]) -> tuple[int, dict] | None:
        out, self.held = self.held, new
        if out is not None:
            self.last = (out[0], out[1]["ts"])
        return out

    def _late(self, ahead_line: int, lineno: int) -> int:
        self.behind[ahead_line] = self.behind.get(ahead_line, 0) + 1
        return lineno


def _per_read_note(note: str) -> bool:
    return note.startswith("aggressor side inferred") or "rows are earlier than line" in note


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
