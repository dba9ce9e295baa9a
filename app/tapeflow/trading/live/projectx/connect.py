"""Log in, pick the account and the front contracts, and build the broker (not yet connected).

Credentials come from the environment (``PROJECTX_USERNAME``, ``PROJECTX_API_KEY``) or the
system keyring (service ``tapeflow-projectx``), never from settings files, and are never logged.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from tapeflow.errors import TapeflowError
from tapeflow.trading.live.projectx import TOPSTEPX_API, TOPSTEPX_USER_HUB
from tapeflow.trading.live.projectx.api import OutcomeUnknownError, ProjectXClient, PxContract, VenueRefusedError
from tapeflow.trading.live.projectx.broker import SYMBOLS, ProjectXBroker

KEYRING_SERVICE = "tapeflow-projectx"


def credentials(env: dict[str, str] | None = None) -> tuple[str, str]:
    """(username, api key) from the environment, else the keyring; a clear error if neither has them."""
    env = dict(os.environ) if env is None else env
    user, key = env.get("PROJECTX_USERNAME", ""), env.get("PROJECTX_API_KEY", "")
    if user and not key:
        try:
            import keyring

            key = keyring.get_password(KEYRING_SERVICE, user) or ""
        except Exception:
            key = ""
    if not user or not key:
        raise TapeflowError(
            "ProjectX credentials missing: set PROJECTX_USERNAME and PROJECTX_API_KEY, or store the key with "
            f"`keyring set {KEYRING_SERVICE} <username>`"
        )
    return user, key


async def front_contracts(client: ProjectXClient, roots: Iterable[str]) -> dict[str, PxContract]:
    out: dict[str, PxContract] = {}
    for root in roots:
        symbol = SYMBOLS.get(root)
        if symbol is None:
            raise TapeflowError(f"instrument {root!r}: no ProjectX symbol known (have {', '.join(SYMBOLS)})")
        found = [c for c in await client.search_contracts(root) if c.symbol_id == symbol and c.active_contract]
        if not found:
            raise TapeflowError(f"instrument {root!r}: the venue lists no active {symbol} contract")
        out[root] = found[0]
    return out


async def connect_projectx(
    username: str,
    api_key: str,
    *,
    account: str | None = None,
    roots: Iterable[str] = ("ES",),
    api_url: str = TOPSTEPX_API,
    hub_url: str = TOPSTEPX_USER_HUB,
    seen_fills: Iterable[str] = (),
    since_ns: int = 0,
    timeout_s: float = 5.0,
    poll_s: float = 0.5,
) -> ProjectXBroker:
    """A logged-in broker for the named (or only tradable) account; call ``start()`` to go online.
    Any failure is a ``TapeflowError`` saying what failed (never the key)."""
    client = ProjectXClient(api_url, timeout_s=timeout_s)
    try:
        try:
            await client.login(username, api_key)
        except VenueRefusedError as e:
            raise TapeflowError(f"ProjectX login for {username!r} refused: {e.message}") from None
        listed = await client.search_accounts()
        accounts = [a for a in listed if a.can_trade and (account is None or a.name == account)]
        if len(accounts) != 1:
            names = ", ".join(a.name + ("" if a.can_trade else " (cannot trade)") for a in listed) or "none"
            raise TapeflowError(f"ProjectX account {account or '(not given)'}: pick one with --account: {names}")
        contracts = await front_contracts(client, roots)
    except (VenueRefusedError, OutcomeUnknownError) as e:
        await client.close()
        raise TapeflowError(f"ProjectX at {api_url}: {e}") from None
    except BaseException:
        await client.close()
        raise
    return ProjectXBroker(client, hub_url, accounts[0].id, contracts, seen_fills=seen_fills,
                          since_ns=since_ns, poll_s=poll_s)
