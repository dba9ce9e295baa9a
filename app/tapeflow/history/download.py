"""Fetch one ``.dbn.zst`` per trading date through Databento's Historical API (``databento`` client).

Why per trading date: a day is what the catalog, the date ranges and the engine work in, and it
is the unit of resuming: a day is written to ``NAME.part`` and renamed into place only once the
stream has ended and the file opens as DBN, so an interrupted run leaves whole days and one
partial file that the next run replaces; a day already in the catalog (under any file name) is
never fetched again. A day's window runs from the previous trading date's 17:00 ET close to its
own (the Globex session from 18:00 ET, and a holiday's short session before it, which CME dates
to the next trading date), so the file holds exactly one trading date.

A root (``ES``) means the front month: the continuous symbol ``ES.c.0``, resolved per date
through the API's symbology before anything is bought; a contract (``ESU4``) is taken as is.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from tapeflow.core.instruments import parse_symbol
from tapeflow.errors import TapeflowError
from tapeflow.history.calendar import trading_dates, trading_window
from tapeflow.history.catalog import scan

DATASET = "GLBX.MDP3"
SCHEMAS = ("mbp-1", "mbo", "trades")
GATEWAY_ENV = "TAPEFLOW_DATABENTO_GATEWAY"
"""Environment variable: another Historical API gateway (a proxy, or a test server)."""


@dataclass(frozen=True, slots=True)
class DayPlan:
    """One trading date to fetch: its window (UTC ns), what it resolved to, and the estimate."""

    day: date
    start_ns: int
    end_ns: int
    instrument_ids: tuple[str, ...]  # what the symbol resolved to on that date
    cost_usd: float
    size_bytes: int  # billable (uncompressed) size


@dataclass
class DownloadPlan:
    """What ``data download`` will fetch, and what it leaves alone."""

    symbol: str  # as requested from the API: ES.c.0 or ESU4
    stype_in: str  # continuous or raw_symbol
    root: str
    schema: str
    folder: Path
    days: list[DayPlan] = field(default_factory=list)
    have: list[date] = field(default_factory=list)  # already in the catalog
    unresolved: list[date] = field(default_factory=list)  # the symbol names no contract that date

    @property
    def cost_usd(self) -> float:
        return sum(d.cost_usd for d in self.days)

    @property
    def size_bytes(self) -> int:
        return sum(d.size_bytes for d in self.days)

    def path_for(self, day: date) -> Path:
        return self.folder / f"{self.root}_{self.schema}_{day.isoformat()}.dbn.zst"


def api_symbol(symbol: str) -> tuple[str, str, str]:
    """(symbol for the API, its stype_in, product root): ``ES`` -> ``ES.c.0`` (continuous front month)."""
    s = symbol.strip()
    if "." in s:  # already a continuous or parent symbol: ES.c.0, ES.v.1
        return s, "continuous", parse_symbol(s.split(".")[0]).instrument.root
    parsed = parse_symbol(s)
    root = parsed.instrument.root
    if s.upper() == root:
        return f"{root}.c.0", "continuous", root
    return s.upper(), "raw_symbol", root


def make_client(key: str | None = None, gateway: str | None = None) -> Any:
    """The ``databento`` Historical client (optional extra ``tapeflow[databento]``)."""
    try:
        import databento
    except ImportError:
        raise TapeflowError("downloading needs the databento client: pip install 'tapeflow[databento]'") from None
    from tapeflow.feeds.live_credentials import get_secret

    key = key or get_secret("DATABENTO_API_KEY", "databento-api-key")
    gateway = gateway or os.environ.get(GATEWAY_ENV) or None
    return databento.Historical(key, gateway=gateway) if gateway else databento.Historical(key)


def _api_call(what: str, fn: Callable[..., Any], **kw: Any) -> Any:
    """An API call whose failures become one readable error (no traceback for a bad key or a 4xx)."""
    from databento.common.error import BentoError

    try:
        return fn(**kw)
    except BentoError as e:
        raise TapeflowError(f"Databento {what} failed: {e}") from None
    except OSError as e:
        raise TapeflowError(f"Databento {what} failed: cannot reach the API: {e}") from None


def resolved_days(client: Any, symbol: str, stype_in: str, first: date, last: date) -> dict[date, tuple[str, ...]]:
    """Per calendar date, the instrument ids ``symbol`` stands for (symbology.resolve)."""
    doc = _api_call("symbology.resolve", client.symbology.resolve, dataset=DATASET, symbols=[symbol],
                    stype_in=stype_in, stype_out="instrument_id", start_date=first,
                    end_date=last + timedelta(days=1))
    out: dict[date, list[str]] = {}
    for interval in (doc.get("result") or {}).get(symbol, []):
        d, end = date.fromisoformat(interval["d0"]), date.fromisoformat(interval["d1"])
        while d < end:
            out.setdefault(d, []).append(str(interval["s"]))
            d += timedelta(days=1)
    return {d: tuple(ids) for d, ids in out.items()}


def make_plan(client: Any, symbol: str, schema: str, first: date, last: date, folder: str | Path) -> DownloadPlan:
    """Resolve the symbol, skip days already on disk, and ask the API the cost and size of the rest."""
    if schema not in SCHEMAS:
        raise TapeflowError(f"--schema {schema!r}: expected one of {', '.join(SCHEMAS)}")
    if last < first:
        raise TapeflowError(f"--from {first} is after --to {last}")
    api_sym, stype_in, root = api_symbol(symbol)
    plan = DownloadPlan(api_sym, stype_in, root, schema, Path(folder).expanduser())
    on_disk = {e.trading_date for e in scan(plan.folder) if e.root == root and e.schema == schema
               and e.trading_date == e.last_date}
    wanted = list(trading_dates(first, last))
    if not wanted:
        raise TapeflowError(f"no trading dates from {first} to {last} (weekends and exchange holidays)")
    todo = [d for d in wanted if d not in on_disk]
    plan.have = [d for d in wanted if d in on_disk]
    if not todo:
        return plan
    resolved = resolved_days(client, api_sym, stype_in, todo[0] - timedelta(days=1), todo[-1])
    for d in todo:
        start, end = trading_window(d)
        # a trading date's session opens the evening before: either calendar date's mapping holds
        ids = resolved.get(d) or resolved.get(d - timedelta(days=1))
        if not ids:
            plan.unresolved.append(d)
            continue
        kw = dict(dataset=DATASET, start=start, end=end, symbols=[api_sym], schema=schema, stype_in=stype_in)
        cost = float(_api_call("metadata.get_cost", client.metadata.get_cost, **kw))
        size = int(_api_call("metadata.get_billable_size", client.metadata.get_billable_size, **kw))
        plan.days.append(DayPlan(d, start, end, ids, cost, size))
    return plan


def fetch_day(client: Any, plan: DownloadPlan, day: DayPlan) -> Path:
    """Stream one day to ``NAME.part``, check it is DBN, then rename it into place."""
    from tapeflow.feeds.dbn_file import DbnFileSource

    final = plan.path_for(day.day)
    part = final.with_name(final.name + ".part")
    plan.folder.mkdir(parents=True, exist_ok=True)
    part.unlink(missing_ok=True)  # what an interrupted run left: a stream cannot be resumed mid-day
    _api_call(f"timeseries.get_range for {day.day}", client.timeseries.get_range, dataset=DATASET,
              start=day.start_ns, end=day.end_ns, symbols=[plan.symbol], schema=plan.schema,
              stype_in=plan.stype_in, path=part)
    try:
        DbnFileSource(part)
    except TapeflowError as e:
        raise TapeflowError(f"{day.day}: the downloaded data is not a DBN file ({e}); kept as {part}") from None
    os.replace(part, final)
    return final


def download(client: Any, plan: DownloadPlan, on_day: Callable[[DayPlan, Path], None] | None = None) -> list[Path]:
    """Fetch every planned day in date order; a failure stops at that day, earlier days stay."""
    out = []
    for day in plan.days:
        path = fetch_day(client, plan, day)
        out.append(path)
        if on_day is not None:
            on_day(day, path)
    return out
