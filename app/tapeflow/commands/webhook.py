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
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tapeflow.account_files import open_account_files
from tapeflow.appdirs import app_paths
from tapeflow.commands import _live_mode as live_mode
from tapeflow.core.instruments import feed_contract
from tapeflow.feeds.base import EventSource
from tapeflow.feeds.open import open_source
from tapeflow.feeds.replay import Replay
from tapeflow.store.journal import Journal
from tapeflow.trading.account import Account
from tapeflow.trading.kill_switch import KillSwitch
from tapeflow.trading.orders import Source
from tapeflow.trading.paper_broker import PaperBroker
from tapeflow.trading.settings import TradingSettings, settings_from_dict
from tapeflow.trading.tape_ids import tape_roots
from tapeflow.webhook.outcome import WebhookRequest
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
    p.add_argument("--feed", default=DEFAULT_FEED, help="market data the paper broker fills against: "
                   "a DBN/CSV file or sim://... (default sim://rth)")
    p.add_argument("--symbol", help="instrument of the feed when the file does not say (ES, MES, NQ, MNQ)")
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
    source = None if args.live else open_source(args.feed, symbol=args.symbol)
    files = open_account_files(*_files(args))
    try:
        if source is None:
            return await _run_live(args, trading, files.journal, files.kill_switch, webhook, on_ready, stop)
        root = source.info.instrument.root
        broker = PaperBroker(trading.paper, tape_roots(source.info.instrument_ids, root))
        account = Account(trading, broker=broker, kill_switch=files.kill_switch, journal=files.journal, name="paper")
        return await _run(args, account, files.journal, source, webhook, on_ready, stop)
    finally:
        files.close()


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
) -> int:
    """The live account: confirmed, restored and reconciled with the venue before the port opens."""
    root = (args.symbol or "ES").upper()
    account, broker, report = await live_mode.open_live_account(args, trading, journal, kill_switch, {root})
    try:
        account.record_settings("start", source=f"projectx:{broker.account_id}")
        _say(f"{live_mode.RED}LIVE{live_mode.RESET} {account.name}: reconciled with the venue")
        _warn_live(report.warnings)
        broker.status_listener = lambda state: _say(f"broker: {state}")
        broker.report_listener = lambda rec: _warn_live(rec.warnings)  # protection re-checked on reconnect
        return await _run(args, account, journal, None, webhook, on_ready, stop, root=root)
    finally:
        await broker.stop()


def _warn_live(lines: list[str]) -> None:
    for line in lines:
        _say(f"{live_mode.RED}WARNING{live_mode.RESET} {line}")


async def _run(
    args: argparse.Namespace,
    account: Account,
    journal: Journal,
    source: EventSource | None,
    webhook: WebhookSettings,
    on_ready: Callable[[WebhookServer], None] | None,
    stop: asyncio.Event | None,
    *,
    root: str = "",
) -> int:
    """Serve until stopped; ``source`` None: a live account (restored already, its broker kept connected)."""
    if source is not None:
        root = source.info.instrument.root
        report = account.restore(journal)
        account.record_settings("start", source=args.feed)
        if report.fills:
            held = ", ".join(f"{k} {v:+d}" for k, v in report.positions.items()) or "flat"
            _say(f"restored from {journal.path}: {report.fills} fills, {report.round_trips} round trips, {held}")
        for warning in report.warnings:
            _say(f"warning: {warning}")
    # alerts naming another month are refused (live: the venue's front month, named by root)
    contract = feed_contract(root, source.info.symbols) if source is not None else root
    if args.rearm:
        account.rearm(args.rearm)
        account.set_automation(Source.WEBHOOK, True, by=args.rearm)
    from tapeflow.webhook.server import WebhookServer

    server = WebhookServer(
        account, webhook, journal=journal, instruments={contract}, on_request=_print_line
    )
    await server.start()  # loads the alerts already executed before the port opens
    red = f"{live_mode.RED}LIVE{live_mode.RESET}"
    what = f"{red} account {account.name}" if source is None else f"paper account, feed {args.feed}"
    _say(f"listening on {server.url}/webhook for {root} alerts ({what})")
    _say(f"status page: {server.url}/status.html?token={server.status_token}  (read-only)")
    if account.kill_switch.latched:
        ks = account.kill_switch.state
        _say(f"kill switch is LATCHED (by {ks.by}: {ks.reason}); orders are refused until --rearm NAME")
    if on_ready is not None:
        on_ready(server)
    feed = asyncio.create_task(_play(Replay(source, speed=args.speed), source, account) if source is not None
                               else account.broker.run())  # type: ignore[attr-defined]
    stop = stop or asyncio.Event()
    try:
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter}, timeout=args.duration)
        waiter.cancel()
    finally:
        feed.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feed
        await server.stop()
        if not account.kill_switch.retry_save():
            _say(f"WARNING: the kill switch is latched in memory only ({account.kill_switch.save_error}); "
                 "the journal holds the kill if it could be written: check both before trading again")
    return 0


async def _play(replay: Replay, source: EventSource, account: Account) -> None:
    """Feed the paper broker at market pace; the server keeps running when the feed ends.
    Instruments the feed defines late (a live feed's symbol mappings) are mapped as they come."""
    info, broker = source.info, account.broker
    known = len(info.instrument_ids)
    async for batch in replay:
        if len(info.instrument_ids) != known and isinstance(broker, PaperBroker):
            known = len(info.instrument_ids)
            broker.map_tape(tape_roots(info.instrument_ids, info.instrument.root))
        account.on_events(batch)
    _say("feed ended: working orders will no longer fill")


def _print_line(rec: WebhookRequest) -> None:
    from tapeflow.webhook.server import describe

    _say(describe(rec))


def _say(text: str) -> None:
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    print(f"{stamp} {text}", file=sys.stdout, flush=True)
