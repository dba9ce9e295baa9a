"""``tapeflow webhook``: the TradingView webhook server, headless, on a paper account (or, with
``--broker projectx --live`` and a confirmation, a live ProjectX account: see ``_live_mode``).

The paper broker fills against a feed (the simulator by default) replayed at market pace, so
alerts fill as they would live. One line is printed per alert outcome; the secret never is (it
comes from ``TAPEFLOW_WEBHOOK_SECRET`` or the settings file's ``[webhook]`` table).

Start-up, all before the port opens: one process per journal and latch (OS locks), both files
proven writable (else exit 2: a server that cannot record what it does must not trade), the
account rebuilt from the journal (positions, P&L, loss limits, order ids, a journaled kill) and
the alerts already executed loaded into the replay guard. Files default to Tapeflow's data
folder (``$TAPEFLOW_HOME/data`` when that is set).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tapeflow.account_files import open_account_files
from tapeflow.appdirs import app_paths
from tapeflow.commands import _live_mode as live_mode
from tapeflow.core.events import Kind
from tapeflow.core.instruments import INSTRUMENTS, parse_symbol
from tapeflow.errors import TapeflowError
from tapeflow.feeds.base import EventSource
from tapeflow.feeds.merged import MergedFeeds
from tapeflow.feeds.open import open_source
from tapeflow.feeds.replay import Clock, Replay
from tapeflow.store.journal import Journal
from tapeflow.trading.account import Account
from tapeflow.trading.kill_switch import KillSwitch
from tapeflow.trading.orders import Source
from tapeflow.trading.paper_broker import PaperBroker
from tapeflow.trading.settings import TradingSettings, settings_from_dict
from tapeflow.trading.tape_ids import TapeNumbers
from tapeflow.webhook.outcome import WebhookRequest
from tapeflow.webhook.routing import traded_contracts
from tapeflow.webhook.settings import (
    WebhookSettings,
    require_secret,
    split_settings_file,
    webhook_settings_from_dict,
    with_env_secret,
)

if TYPE_CHECKING:  # aiohttp is imported only when the server runs, to keep `tapeflow --help` fast
    from tapeflow.webhook.server import WebhookServer

DEFAULT_FEED = "sim://rth"
JOURNAL_NAME = "webhook-journal.sqlite"
KILL_SWITCH_NAME = "webhook-kill-switch.json"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("webhook", help="receive TradingView alerts and trade them on a paper account")
    p.add_argument("--port", type=int, help="port to listen on (default 8080; 0 picks a free one)")
    p.add_argument("--host", help="bind address (default 127.0.0.1; use a reverse proxy to expose it)")
    p.add_argument("--feed", action="append", help="market data the paper broker fills against: a DBN/CSV "
                   "file or sim://... (default sim://rth); repeat for one feed per instrument, e.g. "
                   "--feed sim://rth --feed 'sim://rth?symbol=NQ'. With --broker rithmic --live: one "
                   "--feed rithmic:ES follows Rithmic's data on the broker's session (marks the position)")
    p.add_argument("--instrument", action="append", metavar="ROOT", help="also trade this instrument (ES, "
                   "MES, NQ, MNQ; repeatable; adds to the [webhook] instruments setting): a micro without "
                   "a feed of its own trades on its E-mini's feed (MES on ES)")
    p.add_argument("--symbol", help="instrument of the feeds when a file does not say (ES, MES, NQ, MNQ)")
    p.add_argument("--speed", type=float, default=1.0, help="feed replay speed (1 = real time)")
    p.add_argument("--settings", help="TOML settings: [risk], [paper], [auto] and [webhook] tables "
                   "(default: the terminal's trading.toml when it exists)")
    p.add_argument("--tls-cert", help="PEM certificate chain: serve HTTPS directly (with --tls-key)")
    p.add_argument("--tls-key", help="PEM private key of --tls-cert")
    p.add_argument("--journal", help=f"SQLite journal file (default: {JOURNAL_NAME} in Tapeflow's data "
                   "folder, $TAPEFLOW_HOME/data when set); one server per journal")
    p.add_argument("--kill-switch-file", help=f"where the kill switch latch is kept, surviving restarts "
                   f"(default: {KILL_SWITCH_NAME} next to the journal's default)")
    p.add_argument("--rearm", metavar="NAME", help="re-arm a latched kill switch as NAME before starting")
    live_mode.add_arguments(p)
    p.add_argument("--duration", type=float, help=argparse.SUPPRESS)  # seconds, for tests and demos
    p.set_defaults(func=run)


def load(args: argparse.Namespace) -> tuple[TradingSettings, WebhookSettings]:
    """Settings file (``--settings``, else the terminal's own ``trading.toml`` if there is one, so
    the same risk limits hold), then the environment's secret, then command-line overrides."""
    trading, webhook = TradingSettings(), WebhookSettings()
    path = args.settings
    if path is None and app_paths().settings_file.is_file():
        path = str(app_paths().settings_file)
    if path:
        data, table = split_settings_file(path)
        trading = settings_from_dict(data, path)
        webhook = webhook_settings_from_dict(table, path)
    webhook = with_env_secret(webhook)
    overrides = {
        k: v
        for k, v in (("port", args.port), ("host", args.host), ("tls_cert", args.tls_cert), ("tls_key", args.tls_key))
        if v is not None
    }
    return trading, replace(webhook, **overrides)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(serve(args))


async def serve(
    args: argparse.Namespace,
    *,
    on_ready: Callable[[WebhookServer], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run until ``stop`` is set, ``--duration`` passes or Ctrl-C."""
    trading, webhook = load(args)
    require_secret(webhook)  # refuse before opening anything
    live_mode.check_mode(args)
    live_feed = _live_feed(args)
    feeds = args.feed or [DEFAULT_FEED]
    sources = [] if args.live else [open_source(f, symbol=args.symbol) for f in feeds]
    contracts = {} if args.live else _contracts(args, webhook, sources, feeds)  # refused before anything opens
    feed = open_source(live_feed, symbol=args.symbol) if live_feed else None  # credentials checked here
    if feed is not None and args.symbol and parse_symbol(args.symbol).instrument != feed.info.instrument:
        raise TapeflowError(f"--symbol {args.symbol} and --feed {live_feed} name different instruments: give one")
    files = open_account_files(*_files(args))
    try:
        if not sources:
            return await _run_live(args, trading, files.journal, files.kill_switch, webhook, on_ready, stop, feed)
        numbers, tapes = number_feeds(sources, feeds)
        broker = PaperBroker(trading.paper, numbers.roots)
        account = Account(trading, broker=broker, kill_switch=files.kill_switch, journal=files.journal, name="paper")
        return await _run(args, account, files.journal, tapes, webhook, on_ready, stop, contracts=contracts,
                          numbers=numbers)
    finally:
        files.close()


@dataclass(frozen=True, slots=True)
class _Tape:
    """One of the server's feeds: its index in the shared tape numbering, the source, its spec."""

    index: int
    source: EventSource
    spec: str


def number_feeds(sources: list[EventSource], specs: list[str]) -> tuple[TapeNumbers, list[_Tape]]:
    """The feeds in one shared tape numbering (each feed numbers its instruments its own way)."""
    numbers = TapeNumbers()
    return numbers, [_Tape(numbers.add_feed(s.info.instrument_ids, s.info.instrument.root), s, f)
                     for s, f in zip(sources, specs, strict=True)]


def _contracts(
    args: argparse.Namespace, webhook: WebhookSettings, sources: list[EventSource], feeds: list[str]
) -> dict[str, str]:
    """Root -> contract this server trades: every feed's instrument, plus ``--instrument`` and the
    ``[webhook] instruments`` setting, each on its own feed or (a micro) its E-mini's."""
    by_root: dict[str, list[str]] = {}
    for source, spec in zip(sources, feeds, strict=True):
        root = source.info.instrument.root
        if root in by_root:
            raise TapeflowError(f"two feeds of {root} ({spec} and an earlier one): give one feed per instrument")
        by_root[root] = list(source.info.symbols)
    wanted = [r.strip().upper() for r in args.instrument or ()]
    unknown = [r for r in wanted if r not in INSTRUMENTS]
    if unknown:
        raise TapeflowError(f"--instrument {unknown[0]}: unknown instrument (known: {', '.join(INSTRUMENTS)})")
    return traded_contracts({*by_root, *webhook.instruments, *wanted}, by_root)


def _live_feed(args: argparse.Namespace) -> str | None:
    """A live account trades on the venue's own data: no feed, or (Rithmic) one ``rithmic:`` feed that
    shares the broker's session (one login per plant; the feed marks the position and moves the
    account clock)."""
    if not args.live:
        return None
    if args.instrument:
        raise TapeflowError("--live trades one instrument on the venue's own data: use --symbol, not --instrument")
    if not args.feed:
        return None
    if args.broker != "rithmic" or len(args.feed) != 1 or not args.feed[0].lower().startswith("rithmic:"):
        raise TapeflowError("--live trades one instrument on the venue's own data: use --symbol, not --feed "
                            "(with --broker rithmic, one --feed rithmic:ES shares the broker's session)")
    return args.feed[0]


def _files(args: argparse.Namespace) -> tuple[Path, Path]:
    """The journal and the latch: as given, else in the data folder (``$TAPEFLOW_HOME`` aware)."""
    data = app_paths().data_dir
    journal = Path(args.journal) if args.journal else data / JOURNAL_NAME
    latch = Path(args.kill_switch_file) if args.kill_switch_file else data / KILL_SWITCH_NAME
    return journal, latch


async def _run_live(
    args: argparse.Namespace,
    trading: TradingSettings,
    journal: Journal,
    kill_switch: KillSwitch,
    webhook: WebhookSettings,
    on_ready: Callable[[WebhookServer], None] | None,
    stop: asyncio.Event | None,
    feed: EventSource | None = None,
) -> int:
    """The live account: confirmed, restored and reconciled with the venue before the port opens.
    ``feed``: a ``rithmic:`` feed whose session the broker shares (closed with the feed)."""
    root = feed.info.instrument.root if feed is not None else (args.symbol or "ES").upper()
    session = getattr(feed, "session", None)
    if session is not None:
        feed.owns_session = False  # type: ignore[union-attr]  # closed here, after the broker
    try:
        account, broker, report = await live_mode.open_live_account(args, trading, journal, kill_switch, {root},
                                                                    rithmic_session=session)
    except BaseException:
        if session is not None:
            await session.close()
        raise
    if session is not None:
        session.add_listener(lambda state: _say(f"rithmic session: {state}"))
    try:
        account.record_settings("start", source=f"{args.broker}:{broker.account_id}")
        _say(f"{live_mode.RED}LIVE{live_mode.RESET} {account.name}: reconciled with the venue")
        _warn_live(report.warnings)
        broker.status_listener = lambda state: _say(f"broker: {state}")
        broker.report_listener = lambda rec: _warn_live(rec.warnings)  # protection re-checked on reconnect
        return await _run(args, account, journal, [], webhook, on_ready, stop, root=root, live_feed=feed)
    finally:
        await broker.stop()
        if session is not None:
            await session.close()  # the feed's task is done: nobody uses the session any more


def _warn_live(lines: list[str]) -> None:
    for line in lines:
        _say(f"{live_mode.RED}WARNING{live_mode.RESET} {line}")


async def _run(
    args: argparse.Namespace,
    account: Account,
    journal: Journal,
    tapes: list[_Tape],
    webhook: WebhookSettings,
    on_ready: Callable[[WebhookServer], None] | None,
    stop: asyncio.Event | None,
    *,
    contracts: dict[str, str] | None = None,
    numbers: TapeNumbers | None = None,
    root: str = "",
    live_feed: EventSource | None = None,
) -> int:
    """Serve until stopped; no ``tapes``: a live account (restored already, its broker kept connected)
    trading ``root``'s front month."""
    if tapes:
        report = account.restore(journal)
        account.record_settings("start", source=" ".join(t.spec for t in tapes))
        if report.fills:
            held = ", ".join(f"{k} {v:+d}" for k, v in report.positions.items()) or "flat"
            _say(f"restored from {journal.path}: {report.fills} fills, {report.round_trips} round trips, {held}")
        for warning in report.warnings:
            _say(f"warning: {warning}")
    # alerts naming another month are refused (live: the venue's front month, named by root)
    contracts = contracts or {root: root}
    if args.rearm:
        account.rearm(args.rearm)
        account.set_automation(Source.WEBHOOK, True, by=args.rearm)
    from tapeflow.webhook.server import WebhookServer

    server = WebhookServer(
        account, webhook, journal=journal, instruments=set(contracts.values()), on_request=_print_line
    )
    if not tapes:  # a live venue: POST /reconnect logs it back in by hand (after a forced logout)
        server.reconnect = getattr(account.broker, "reconnect", None)
    await server.start()  # loads the alerts already executed before the port opens
    red = f"{live_mode.RED}LIVE{live_mode.RESET}"
    what = f"{red} account {account.name}" if not tapes else f"paper account, feed {', '.join(t.spec for t in tapes)}"
    _say(f"listening on {server.url}/webhook for {', '.join(sorted(contracts))} alerts ({what})")
    _say(f"status page: {server.url}/status.html?token={server.status_token}  (read-only)")
    if server.reconnect is not None:
        _say(f"after a forced logout: POST {server.url}/reconnect with the secret in the body logs back in")
    if account.kill_switch.latched:
        ks = account.kill_switch.state
        _say(f"kill switch is LATCHED (by {ks.by}: {ks.reason}); orders are refused until --rearm NAME")
    if on_ready is not None:
        on_ready(server)
    if tapes and numbers is not None:
        feeds = [asyncio.create_task(play) for play in replay_feeds(tapes, account, numbers, args.speed)]
    else:
        feeds = [asyncio.create_task(account.broker.run())]  # type: ignore[attr-defined]
        if live_feed is not None:
            feeds.append(asyncio.create_task(_follow(live_feed, account)))
    stop = stop or asyncio.Event()
    try:
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter}, timeout=args.duration)
        waiter.cancel()
    finally:
        for feed in feeds:
            feed.cancel()
        for feed in feeds:
            with contextlib.suppress(asyncio.CancelledError):
                await feed
        await server.stop()
        if not account.kill_switch.retry_save():
            _say(f"WARNING: the kill switch is latched in memory only ({account.kill_switch.save_error}); "
                 "the journal holds the kill if it could be written: check both before trading again")
    return 0


def replay_feeds(tapes: list[_Tape], account: Account, numbers: TapeNumbers, speed: float | None,
                 clock: Clock | None = None) -> list[Coroutine[Any, Any, None]]:
    """The coroutines that feed the paper broker: the recorded feeds (files, ``sim:``) merged into
    one tape on one replay clock, so ES and NQ rows (and fills) come in the order they happened;
    a live feed (websocket, Rithmic), which arrives at its own pace, on its own."""
    recorded = [t for t in tapes if not t.spec.lower().startswith(("ws://", "wss://", "rithmic:"))]
    plays = [_play(Replay(t.source, speed=speed, clock=clock), t, account, numbers)
             for t in tapes if t not in recorded or len(recorded) == 1]
    if len(recorded) > 1:
        merged = MergedFeeds([(t.index, t.source) for t in recorded], numbers)
        plays.append(_play_merged(Replay(merged, speed=speed, clock=clock), merged, recorded, account))
    return plays


async def _play_merged(replay: Replay, merged: MergedFeeds, tapes: list[_Tape], account: Account) -> None:
    """Feed the paper broker the merged tape at market pace; each feed's end is told when the
    replay reaches it. Ids a feed defines late are mapped before the rows that use them."""
    broker, mapped, told = account.broker, merged.roots, 0
    async for batch in replay:
        if merged.roots is not mapped and isinstance(broker, PaperBroker):
            mapped = merged.roots
            broker.map_tape(mapped)
        account.on_events(batch)
        while told < len(merged.ended) and merged.ended[told][0] <= int(batch["ts_event"][-1]):
            _say(f"feed {tapes[merged.ended[told][1]].spec} ended: its working orders will no longer fill")
            told += 1
    for _, k in merged.ended[told:]:
        _say(f"feed {tapes[k].spec} ended: its working orders will no longer fill")


async def _play(replay: Replay, tape: _Tape, account: Account, numbers: TapeNumbers) -> None:
    """Feed the paper broker at market pace, renumbered into the tape numbering the feeds share;
    the server keeps running when the feed ends. Instruments the feed defines late (a live feed's
    symbol mappings) are numbered and mapped as they come."""
    info, broker = tape.source.info, account.broker
    known = len(info.instrument_ids)
    try:
        async for batch in replay:
            if len(info.instrument_ids) != known and isinstance(broker, PaperBroker):
                known = len(info.instrument_ids)
                if numbers.update(tape.index, info.instrument_ids, info.instrument.root):
                    broker.map_tape(numbers.roots)
            account.on_events(numbers.renumber(tape.index, batch))
    finally:
        await replay.aclose()  # a live feed read on this loop (Rithmic) lets go of its connection
    _say(f"feed {tape.spec} ended: its working orders will no longer fill")


async def _follow(feed: EventSource, account: Account) -> None:
    """A live account's market data: the account clock (day roll, loss limits) and the position
    marked at the last trade; fills come from the venue, not from this tape."""
    root = feed.info.instrument.root
    async for batch in feed:  # type: ignore[attr-defined]
        account.on_events(batch)
        trades = batch["price"][batch["kind"] == Kind.TRADE]
        if len(trades) and root in account.ledger.positions:
            account.mark(root, int(trades[-1]))
    _say(f"feed {feed.info.source} ended")


def _print_line(rec: WebhookRequest) -> None:
    from tapeflow.webhook.server import describe

    _say(describe(rec))


def _say(text: str) -> None:
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    print(f"{stamp} {text}", file=sys.stdout, flush=True)
