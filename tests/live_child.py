"""A Tapeflow process on a ProjectX account, for the ``kill -9`` test: it buys 1 ES, reports, waits.

argv: venue url, journal path. Prints ``ACCEPTED <venue id>`` once the venue has the order and
``FILLED`` once the fill is journaled, then sleeps until killed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from tapeflow.core.events import Side
from tapeflow.store.journal import Journal
from tapeflow.trading import Account, OrderRequest
from tapeflow.trading.live.projectx.connect import connect_projectx
from tapeflow.trading.live.session import journal_seed, start_live


async def main(url: str, path: str) -> None:
    journal = Journal(path)
    seen, since = journal_seed(journal, time.time_ns())
    broker = await connect_projectx("trader", "key-123", api_url=url, hub_url=url.replace("http", "ws") + "/hubs/user",
                                    seen_fills=seen, since_ns=since, poll_s=0.05)
    await buy_one_and_wait(Account(broker=broker, journal=journal, name="projectx"), broker, journal)


async def buy_one_and_wait(acct: Account, broker: Any, journal: Journal) -> None:
    """Start live, buy 1 ES, say ``ACCEPTED <venue id>`` and ``FILLED`` as it goes, then wait to be killed."""
    await start_live(acct, broker, journal)
    oid = acct.submit(OrderRequest(instrument="ES", side=Side.BUY, qty=1)).order_id
    while not acct.orders[oid].venue_id:
        await asyncio.sleep(0.01)
    print("ACCEPTED", acct.orders[oid].venue_id, flush=True)
    while acct.ledger.positions.get("ES") is None or acct.ledger.positions["ES"].qty != 1:
        await asyncio.sleep(0.01)
    print("FILLED", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
