"""Per-instrument paper costs: ``[paper]`` is the default, ``[paper.instruments.ROOT]`` overrides it.

Hand-computed: ES pays 0.59 + 1.38 = 1.97 USD per contract per side (197 cents), MES 0.20 + 0.35
= 0.55 USD (55 cents). Prices in ticks of 0.25 (ES 5000.00 = 20000); MES ticks are worth 125 cents.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tapeflow.core.events import Side
from tapeflow.trading.account import Account
from tapeflow.trading.orders import OrderRequest
from tapeflow.trading.paper_broker import PaperBroker
from tapeflow.trading.settings import InstrumentCosts, PaperSettings, TradingSettings, load_settings
from tapeflow.trading.testing import MS, et, levels

ES_ID = 1
T0 = et(date(2024, 7, 2), "10:00")
COSTS = (
    "[paper]\ncommission_usd = 0.59\nexchange_fee_usd = 1.38\n"
    "[paper.instruments.MES]\ncommission_usd = 0.20\nexchange_fee_usd = 0.35\n"
)
SHIPPED = Path(__file__).parents[1] / "app" / "tapeflow" / "resources" / "defaults" / "trading.toml"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "trading.toml"
    p.write_text(text)
    return p


def test_an_instrument_table_overrides_the_paper_cost_defaults_for_that_instrument_only(tmp_path: Path):
    paper = load_settings(write(tmp_path, COSTS)).paper
    assert paper.instruments == {"MES": InstrumentCosts(commission_cents=20, exchange_fee_cents=35)}
    assert paper.cost_per_contract_cents_for("MES") == 55
    assert paper.cost_per_contract_cents_for("ES") == 197
    assert paper.cost_per_contract_cents_for("NQ") == 197  # no table: the defaults


def test_a_partial_override_keeps_the_default_for_the_key_it_leaves_out(tmp_path: Path):
    paper = load_settings(write(tmp_path, COSTS.replace("commission_usd = 0.20\n", ""))).paper
    assert paper.cost_per_contract_cents_for("MES") == 59 + 35


def test_a_zero_override_means_free_for_that_instrument_not_the_default():
    paper = PaperSettings(commission_cents=59, exchange_fee_cents=138,
                          instruments={"MNQ": InstrumentCosts(commission_cents=0)})
    assert paper.cost_per_contract_cents_for("MNQ") == 138


def test_the_shipped_settings_charge_micros_far_less_than_e_minis():
    paper = load_settings(SHIPPED).paper
    es, mes = paper.cost_per_contract_cents_for("ES"), paper.cost_per_contract_cents_for("MES")
    assert (es, paper.cost_per_contract_cents_for("NQ")) == (197, 197)
    assert (mes, paper.cost_per_contract_cents_for("MNQ")) == (55, 55)


def test_an_mes_fill_on_the_es_tape_pays_mes_costs_not_es_costs(tmp_path: Path):
    paper = load_settings(write(tmp_path, COSTS)).paper
    acct = Account(TradingSettings(paper=paper), broker=PaperBroker(paper, {ES_ID: "ES"}))
    acct.on_events(levels(T0, [(1, 0, 19999, 50), (-1, 0, 20001, 50)], instrument_id=ES_ID))
    assert acct.submit(OrderRequest(instrument="MES", side=Side.BUY, qty=2)).ok
    assert acct.submit(OrderRequest(instrument="ES", side=Side.BUY, qty=1)).ok
    acct.on_events(levels(T0 + MS, [(1, 0, 20003, 50), (-1, 0, 20005, 50)], instrument_id=ES_ID))
    assert acct.submit(OrderRequest(instrument="MES", side=Side.SELL, qty=2)).ok
    day = date(2024, 7, 2)
    assert acct.ledger.instrument_day("MES", day).commission_cents == 4 * 55  # two sides of 2 MES
    assert acct.ledger.instrument_day("ES", day).commission_cents == 197  # one side of 1 ES
    assert acct.ledger.commission_cents == 4 * 55 + 197
    (rt,) = acct.ledger.round_trips  # bought the 20001 ask, sold the 20003 bid: 2 ticks x 2 MES
    assert (rt.gross_cents, rt.commission_cents, rt.net_cents) == (2 * 2 * 125, 4 * 55, 500 - 220)
