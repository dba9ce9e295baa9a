"""The paper broker reads each feed's rows under the feed's own instrument ids: ES filled on the
simulator (id 1), a Databento file (118 = ESU4) and a CSV file (0) alike."""

from __future__ import annotations

from pathlib import Path

from tapeflow.core.events import Side
from tapeflow.feeds.open import open_source
from tapeflow.trading import Account, OrderRequest
from tapeflow.trading.paper_broker import PaperBroker
from tapeflow.trading.tape_ids import tape_roots


def test_roots_come_from_the_feeds_own_symbols():
    assert tape_roots({118: "ESU4"}, "ES") == {118: "ES"}
    assert tape_roots({1: "ESU4", 2: "MNQZ4"}, "ES") == {1: "ES", 2: "MNQ"}
    assert tape_roots({7: "7"}, "NQ") == {7: "NQ"}  # no symbology: the feed's declared instrument
    assert tape_roots({}, "MES") == {0: "MES"}  # CSV time and sales: rows carry id 0


def fills_a_market_buy(spec: str, **open_kw: str) -> int:
    """Contracts a market buy of 1 filled after a few batches of ``spec``."""
    source = open_source(spec, **open_kw)
    root = source.info.instrument.root
    account = Account(broker=PaperBroker(instrument_ids=tape_roots(source.info.instrument_ids, root)))
    batches = iter(source)
    account.on_events(next(batches))
    assert account.submit(OrderRequest(instrument=root, side=Side.BUY, qty=1)).ok
    for _, batch in zip(range(20), batches, strict=False):
        account.on_events(batch)
    return account.ledger.positions[root].qty if root in account.ledger.positions else 0


def test_a_market_buy_fills_on_the_simulator_which_numbers_es_1():
    assert open_source("sim://rth?minutes=1").info.instrument_ids == {1: "ESU4"}
    assert fills_a_market_buy("sim://rth?minutes=1") == 1


def test_a_market_buy_fills_on_a_databento_file(mbp1_file: Path):
    assert fills_a_market_buy(str(mbp1_file)) == 1


def test_a_market_buy_fills_on_a_csv_file(csv_file: Path):
    assert fills_a_market_buy(str(csv_file), symbol="ES") == 1


def test_ids_a_feed_announces_late_are_mapped_as_they_come():
    broker = PaperBroker(instrument_ids={1: "ES"})
    broker.map_tape({42: "ES"})
    assert broker.instrument_ids == {1: "ES", 42: "ES"} and broker.tape_id("ES") == 1
