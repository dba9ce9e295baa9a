"""``--broker projectx --live``: opening a real venue account for a command, with the user's consent.

Paper is the default everywhere. A live account needs three deliberate acts: ``--broker projectx``,
``--live``, and a confirmation naming the account (typed at the terminal, or for a service the
``TAPEFLOW_CONFIRM_LIVE`` environment variable set to the account name). Credentials come from the
environment or the keyring (``trading.live.projectx.connect.credentials``), never from arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
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


async def open_live_account(
    args: argparse.Namespace, trading: TradingSettings, journal: Any, kill_switch: KillSwitch,
    roots: set[str], *, ask: Callable[[str], str] | None = None,
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
        confirm(name, ask)
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
