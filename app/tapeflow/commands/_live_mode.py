"""``--broker projectx|rithmic --live``: opening a real venue account for a command, with the user's consent.

Paper is the default everywhere. A live account needs three deliberate acts: ``--broker projectx``
(or ``rithmic``), ``--live``, and a confirmation naming the account (typed at the terminal, or for a
service the ``TAPEFLOW_CONFIRM_LIVE`` environment variable set to the account name). Credentials come
from the environment or the keyring (ProjectX: ``trading.live.projectx.connect.credentials``;
Rithmic: ``RITHMIC_USER``/``RITHMIC_PASSWORD``), never from arguments.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import time
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tapeflow.errors import TapeflowError
from tapeflow.trading.account import Account
from tapeflow.trading.kill_switch import KillSwitch
from tapeflow.trading.live.projectx import TOPSTEPX_API, TOPSTEPX_USER_HUB
from tapeflow.trading.settings import TradingSettings

if TYPE_CHECKING:  # aiohttp and websockets load only when a live account opens (`tapeflow --help` stays fast)
    from tapeflow.trading.live.session import StartReport
    from tapeflow.trading.live.venue_broker import VenueBroker

RED, RESET = "\033[1;31m", "\033[0m"
LIVE_KINDS = ("paper", "projectx", "rithmic")
VENUE_NAMES = {"projectx": "ProjectX", "rithmic": "Rithmic"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", choices=LIVE_KINDS, default="paper",
                   help="paper (default: simulated fills), projectx (a TopstepX / ProjectX account) or rithmic "
                        "(a Rithmic account: [rithmic] of trading.toml, RITHMIC_USER / RITHMIC_PASSWORD)")
    p.add_argument("--live", action="store_true", help="required with a live --broker: trade a real account")
    p.add_argument("--account", help="account name or id (default: the only tradable one)")
    p.add_argument("--projectx-api", default=TOPSTEPX_API, help=argparse.SUPPRESS)
    p.add_argument("--projectx-hub", default=TOPSTEPX_USER_HUB, help=argparse.SUPPRESS)


def check_mode(args: argparse.Namespace) -> None:
    """Refuse a half-chosen live mode before anything opens."""
    if args.broker == "paper" and args.live:
        raise TapeflowError("--live needs a live broker: add --broker projectx or --broker rithmic")
    if args.broker != "paper" and not args.live:
        raise TapeflowError(f"--broker {args.broker} trades a real (or prop evaluation) account: add --live to confirm")


BROKER_KEYS = ("kind", "mode", "account")


def apply_settings(args: argparse.Namespace, settings_file: Path) -> None:
    """``[broker]`` of the trading settings (``kind = "projectx"`` or ``"rithmic"``, ``mode = "live"``, ``account``)
    when the command line chose nothing: the flags win, and live still needs the confirmation."""
    if args.broker != "paper" or args.live or not settings_file.is_file():
        return
    try:
        table = tomllib.loads(settings_file.read_text(encoding="utf-8")).get("broker", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise TapeflowError(f"{settings_file}: {e}") from None
    where = f"{settings_file.name}: [broker]"
    if not isinstance(table, dict):
        raise TapeflowError(f"{where} must be a table")
    for key, value in table.items():
        if key not in BROKER_KEYS:
            raise TapeflowError(f"{where} {key}: unknown key (known: {', '.join(BROKER_KEYS)})")
        if not isinstance(value, str):
            raise TapeflowError(f"{where} {key}: expected a string, got {value!r}")
    kind, mode = table.get("kind", "paper"), table.get("mode", "paper")
    if kind not in LIVE_KINDS:
        raise TapeflowError(f"{where} kind: expected paper, projectx or rithmic, got {kind!r}")
    if mode not in ("paper", "live"):
        raise TapeflowError(f"{where} mode: expected paper or live, got {mode!r}")
    if (kind != "paper") != (mode == "live"):
        raise TapeflowError(f"{where}: a live account needs both a live kind (projectx, rithmic) and mode = \"live\"")
    args.broker, args.live = kind, mode == "live"
    args.account = args.account or table.get("account")


def confirm(account: str, ask: Callable[[str], str] | None = None, env: dict[str, str] | None = None,
            venue: str = "ProjectX") -> None:
    """The user names the account to trade live; anything else aborts."""
    env = dict(os.environ) if env is None else env
    given = env.get("TAPEFLOW_CONFIRM_LIVE")
    if given is None:
        if ask is None and not sys.stdin.isatty():
            raise TapeflowError("live mode needs a confirmation: run in a terminal, or set TAPEFLOW_CONFIRM_LIVE "
                                f"to the account name ({account})")
        prompt = f"{RED}LIVE ORDERS on {venue} account {account}.{RESET} Type the account name to go on: "
        given = (ask or input)(prompt).strip()
    if given != account:
        raise TapeflowError(f"live mode not confirmed (expected the account name {account!r})")


Answer = Callable[[str], str | Awaitable[str]]
"""Asks the user to type the account name (given the account): a terminal prompt or a window's dialog."""


async def confirm_async(account: str, ask: Answer | None = None, venue: str = "ProjectX") -> None:
    """:func:`confirm` where the answer may come later (a dialog on the running event loop)."""
    if ask is None or "TAPEFLOW_CONFIRM_LIVE" in os.environ:
        return confirm(account, venue=venue)
    answer = ask(account)
    given = await answer if inspect.isawaitable(answer) else answer
    confirm(account, lambda _prompt: given, venue=venue)


async def open_live_account(
    args: argparse.Namespace, trading: TradingSettings, journal: Any, kill_switch: KillSwitch,
    roots: set[str], *, ask: Answer | None = None, rithmic_session: Any = None,
) -> tuple[Account, VenueBroker, StartReport]:
    """Connect, confirm, restore from the journal and reconcile; entries stay halted until this returns.
    ``rithmic_session``: the process's Rithmic session when a Rithmic feed already runs on it (one
    login per plant); without one the broker builds its own and closes it when it stops."""
    from tapeflow.trading.live.session import journal_seed, start_live

    venue = VENUE_NAMES[args.broker]
    seen, since = journal_seed(journal, time.time_ns())
    if args.broker == "rithmic":
        broker, name = await _connect_rithmic(args, trading, roots, seen, since, rithmic_session)
    else:
        broker, name = await _connect_projectx(args, roots, seen, since)
    try:
        await confirm_async(name, ask, venue)
    except TapeflowError:
        await broker.stop()
        raise
    account = Account(trading, broker=broker, kill_switch=kill_switch, journal=journal,
                      name=f"LIVE {args.broker}:{name}")
    try:
        report = await start_live(account, broker, journal)
    except TapeflowError:
        await broker.stop()
        raise
    except Exception as e:
        await broker.stop()
        raise TapeflowError(f"{venue}: could not connect and reconcile ({type(e).__name__}: {e})") from None
    return account, broker, report


async def _connect_projectx(args: argparse.Namespace, roots: set[str], seen: set[str], since: int) -> tuple[Any, str]:
    from tapeflow.trading.live.projectx.connect import connect_projectx, credentials

    user, key = credentials()
    broker = await connect_projectx(user, key, account=args.account, roots=sorted(roots), api_url=args.projectx_api,
                                    hub_url=args.projectx_hub, seen_fills=seen, since_ns=since)
    name = next((a.name for a in await broker.client.search_accounts() if a.id == broker.account_id), "")
    return broker, name


async def _connect_rithmic(args: argparse.Namespace, trading: TradingSettings, roots: set[str], seen: set[str],
                           since: int, session: Any) -> tuple[Any, str]:
    from tapeflow.feeds.live_rithmic import session_from_settings
    from tapeflow.trading.live.rithmic.connect import connect_rithmic

    owns = session is None
    if owns:
        session = session_from_settings()
    try:
        broker = await connect_rithmic(session, account=args.account, roots=sorted(roots), seen_fills=seen,
                                       since_ns=since, cost_cents=trading.paper.cost_per_contract_cents_for)
    except BaseException:
        if owns:
            await session.close()
        raise
    broker.owns_session = owns
    return broker, broker.account_id
