"""A Tapeflow process on a Rithmic account, for the ``kill -9`` test: it buys 1 ES, reports, waits.

argv: gateway url, journal path, the test CA's PEM file. Prints ``ACCEPTED <basket id>`` once the
venue has the order and ``FILLED`` once the fill is journaled, then sleeps until killed.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import time

from live_child import buy_one_and_wait
from rithmic_venue import ACCOUNT, CONTRACTS

from tapeflow.rithmic.session import RithmicSession
from tapeflow.rithmic.settings import RithmicSettings
from tapeflow.store.journal import Journal
from tapeflow.trading import Account
from tapeflow.trading.live.rithmic.broker import RithmicBroker
from tapeflow.trading.live.session import journal_seed


async def main(url: str, path: str, ca: str) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    settings = RithmicSettings(app_name="tapeflow-test", app_version="0.1", system_name="Rithmic Test", url=url)
    session = RithmicSession(settings, user="trader", password="secret", ssl_context=ctx)
    journal = Journal(path)
    seen, since = journal_seed(journal, time.time_ns())
    broker = RithmicBroker(session, ACCOUNT, CONTRACTS, seen_fills=seen, since_ns=since, poll_s=0.05)
    await buy_one_and_wait(Account(broker=broker, journal=journal, name="rithmic"), broker, journal)

if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
