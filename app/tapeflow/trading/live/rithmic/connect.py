"""Pick the Rithmic account and the front contracts, and build the broker on a session.

The session is the process's one Rithmic connection (``tapeflow.rithmic.session``): the terminal's
Rithmic feed passes its own so orders and data share one login per plant; without one a session is
built from ``[rithmic]`` of ``trading.toml`` and the ``RITHMIC_USER``/``RITHMIC_PASSWORD``
credentials (env or keyring, never logged), and the broker closes it when it stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from tapeflow.core.instruments import MONTH_CODES, front_month, instrument
from tapeflow.errors import TapeflowError
from tapeflow.trading.live.rithmic.broker import RithmicBroker
from tapeflow.trading.live.rithmic.protocol import RContract

EXCHANGE = "CME"  # ES, MES, NQ, MNQ all trade on CME Globex


def front_contracts(roots: Iterable[str], on: date) -> dict[str, RContract]:
    """Each root's front quarterly contract as Rithmic names it (``ESZ6``), with its tick size."""
    year, month = front_month(on)
    out: dict[str, RContract] = {}
    for root in roots:
        inst = instrument(root)
        out[root] = RContract(f"{inst.root}{MONTH_CODES[month - 1]}{year % 10}", EXCHANGE, inst.tick_size)
    return out


async def connect_rithmic(
    session: Any,
    *,
    account: str | None = None,
    roots: Iterable[str] = ("ES",),
    on: date | None = None,
    seen_fills: Iterable[str] = (),
    since_ns: int = 0,
    cost_cents: Callable[[str], int] | None = None,
    timeout_s: float = 5.0,
    poll_s: float = 0.5,
) -> RithmicBroker:
    """A broker for the named (or only) account of the session's login; call ``start()`` to go online.
    Any failure is a ``TapeflowError`` saying what failed (never the password)."""
    try:
        await session.open({"order"})
    except TapeflowError as e:
        raise TapeflowError(f"Rithmic: {e}") from None
    listed = list(session.client.accounts or [])
    found = [a for a in listed if account is None or account in (a.account_id, a.account_name)]
    if len(found) != 1:
        names = ", ".join(f"{a.account_id} ({a.account_name})" if a.account_name else a.account_id
                          for a in listed) or "none"
        raise TapeflowError(f"Rithmic account {account or '(not given)'}: pick one with --account: {names}")
    contracts = front_contracts(roots, on or date.today())
    return RithmicBroker(session, found[0].account_id, contracts, seen_fills=seen_fills, since_ns=since_ns,
                         cost_cents=cost_cents, timeout_s=timeout_s, poll_s=poll_s)
