"""``--broker projectx --live``: opening a real venue account for a command, with the user's consent.

Paper is the default everywhere. A live account needs three deliberate acts: ``--broker projectx``,
``--live``, and a confirmation naming the account (typed at the terminal, or for a service the
``TAPEFLOW_CONFIRM_LIVE`` environment variable set to the account name). Credentials come from the
environment or the keyring (``trading.live.projectx.connect.credentials``), never from arguments.
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
    from tapeflow.trading.live.projectx.broker import ProjectXBroker
    from tapeflow.trading.live.session import StartReport

RED, RESET = "\033[1;31m", "\033[0m"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", choices=("paper", "projectx"), default="paper",
                   help="paper (default: simulated fills) or projectx (a TopstepX / ProjectX account)")
    p.add_argument("--live", action="store_true", help="required with --broker projectx: trade a real account")
    p.add_argument("--account", help="ProjectX account name (default: the only tradable one)")
    p.add_argument("--projectx-api", default=TOPSTEPX_API, help=argparse.SUPPRESS)
    p.add_argument("--projectx-hub", default=TOPSTEPX_USER_HUB, help=argparse.SUPPRESS)


def check_mode(args: argparse.Namespace) -> None:
    """Refuse a half-chosen live mode before anything opens."""
    if args.broker == "paper" and args.live:
        raise TapeflowError("--live needs a live broker: add --broker projectx")
    if args.broker == "projectx" and not args.live:
        raise TapeflowError("--broker projectx trades a real (or prop evaluation) account: add --live to confirm")


BROKER_KEYS = ("kind", "mode", "account")


def apply_settings(args: argparse.Namespace, settings_file: Path) -> None:
    """``[broker]`` of the trading settings (``kind = "projectx"``, ``mode = "live"``, ``account``)
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
    if kind not in ("paper", "projectx"):
        raise TapeflowError(f"{where} kind: expected paper or projectx, got {kind!r}")
    if mode not in ("paper", "live"):
        raise TapeflowError(f"{where} mode: expected paper or live, got {mode!r}")
    if (kind == "projectx") != (mode == "live"):
        raise TapeflowError(f"{where}: a live account needs both kind = \"projectx\" and mode = \"live\"")
    args.broker, args.live = kind, mode == "live"
    args.account = args.account or table.get("account")


def confirm(account: str, ask: Callable[[str], str] | None = None, env: dict[str, str] | None = None) -> None:
    """The user names the account to trade live; anything else aborts."""
    env = dict(os.environ) if env is None else env
    given = env.get("TAPEFLOW_CONFIRM_LIVE")
    if given is None:
        if ask is None and not sys.stdin.isatty():
            raise TapeflowError("live mode needs a confirmation: run in a terminal, or set TAPEFLOW_CONFIRM_LIVE "
                                f"to the account name ({account})")
        prompt = f"{RED}LIVE ORDERS on ProjectX account {account}.{RESET} Type the account name to go on: "
        given = (ask or input)(prompt).strip()
    if given != account:
        raise TapeflowError(f"live mode not confirmed (expected the account name {account!r})")


Answer = Callable[[str], str | Awaitable[str]]
"""Asks the user to type the account name (given the account): a terminal prompt or a window's dialog."""


async def confirm_async(account: str, ask: Answer | None = None) -> None:
    """:func:`confirm` where the answer may come later (a dialog on the running event loop)."""
    if ask is None or "TAPEFLOW_CONFIRM_LIVE" in os.environ:
        return confirm(account)
    answer = ask(account)
    given = await answer if inspect.isawaitable(answer) else answer
    confirm(account, lambda _prompt: given)


async def open_live_account(
    args: argparse.Namespace, trading: TradingSettings, journal: Any, kill_switch: KillSwitch,
    roots: set[str], *, ask: Answer | None = None,
) -> tuple[Account, ProjectXBroker, StartReport]:
    """Connect, confirm, restore from the journal and reconcile; entries stay halted until this returns."""
    from tapeflow.trading.live.projectx.connect import connect_projectx, credentials
    from tapeflow.trading.live.session import journal_seed, start_live

    user, key = credentials()
    seen, since = journal_seed(journal, time.time_ns())
    broker = await connect_projectx(user, key, account=args.account, roots=sorted(roots), api_url=args.projectx_api,
                                    hub_url=args.projectx_hub, seen_fills=seen, since_ns=since)
    name = next((a.name for a in await broker.client.search_accounts() if a.id == broker.account_id), "")
    try:
        await confirm_async(name, ask)
    except TapeflowError:
        await broker.stop()
        raise
    account = Account(trading, broker=broker, kill_switch=kill_switch, journal=journal, name=f"LIVE projectx:{name}")
    try:
        report = await start_live(account, broker, journal)
    except TapeflowError:
        await broker.stop()
        raise
    except Exception as e:
        await broker.stop()
        raise TapeflowError(f"ProjectX: could not connect and reconcile ({type(e).__name__}: {e})") from None
    return account, broker, report
