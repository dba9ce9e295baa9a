from datetime import date
from decimal import Decimal

import pytest

from tapeflow.core.instruments import (
    contract_month,
    feed_contract,
    front_month,
    instrument,
    month_label,
    parse_symbol,
    third_friday,
)
from tapeflow.errors import TapeflowError


def test_es_tick_is_a_quarter_point_worth_12_50():
    es = instrument("ES")
    assert es.tick_size == Decimal("0.25")
    assert es.tick_value_cents == 1250
    assert es.point_value == Decimal("50")
    assert instrument("MES").point_value == Decimal("5")
    assert instrument("NQ").point_value == Decimal("20")
    assert instrument("MNQ").tick_value_cents == 50


def test_price_tick_round_trip_is_exact():
    es = instrument("ES")
    assert es.to_ticks("5528.75") == 22115
    assert es.format_price(22115) == "5528.75"
    assert es.to_price(-3) == Decimal("-0.75")
    with pytest.raises(TapeflowError, match="not a multiple"):
        es.to_ticks("5528.10")


@pytest.mark.parametrize(
    ("text", "code", "month", "year"),
    [
        ("ESZ6", "ESZ6", 12, 2026),
        ("ESH5", "ESH5", 3, 2025),  # one year back is still this decade's contract
        ("ESH4", "ESH4", 3, 2034),  # further back wraps to the next decade
        ("MESZ2026", "MESZ6", 12, 2026),
        ("nqm27", "NQM7", 6, 2027),
        ("CME_MINI:ES1!", "ES1!", None, None),
        ("MNQ", "MNQ1!", None, None),
        ("ES 12-25", "ESZ5", 12, 2025),  # NinjaTrader month-year
        ("ES DEC25", "ESZ5", 12, 2025),
        ("MES 03-27", "MESH7", 3, 2027),
        ("ES2!", "ES2!", None, None),
        ("/ES", "ES1!", None, None),
    ],
)
def test_parse_symbol(text, code, month, year):
    c = parse_symbol(text, today=date(2026, 11, 25))
    assert (c.code, c.month, c.year) == (code, month, year)


def test_parse_symbol_rejects_unknown_products():
    with pytest.raises(TapeflowError, match="cannot parse"):
        parse_symbol("CLZ6")


@pytest.mark.parametrize("bad", ["ES 13-25", "ES DEX25", "ES0!"])
def test_parse_symbol_rejects_impossible_months(bad):
    with pytest.raises(TapeflowError):
        parse_symbol(bad)


def test_continuous_rank_counts_quarterly_months_from_the_front():
    on = date(2026, 11, 25)  # front month: December 2026
    assert contract_month(parse_symbol("ES1!"), on) == (2026, 12)
    assert contract_month(parse_symbol("ES2!"), on) == (2027, 3)
    assert contract_month(parse_symbol("ES5!"), on) == (2027, 12)
    assert contract_month(parse_symbol("ES 06-27"), on) == (2027, 6)
    assert month_label("ES", 2027, 3) == "ESH7 (March 2027)"


def test_prices_that_decimal_cannot_divide_are_user_errors():
    es = instrument("ES")
    for bad in ("1e28", "Infinity", "NaN", "x"):
        with pytest.raises(TapeflowError, match="not a usable ES price"):
            es.to_ticks(bad)


def test_front_month_rolls_eight_days_before_third_friday():
    assert third_friday(2026, 12) == date(2026, 12, 18)
    assert front_month(date(2026, 11, 25)) == (2026, 12)
    assert front_month(date(2026, 12, 9)) == (2026, 12)
    assert front_month(date(2026, 12, 10)) == (2027, 3)  # roll Thursday, eight days before expiry


def test_feed_contract_is_the_first_dated_symbol_of_the_root():
    assert feed_contract("ES", ["ES.c.0", "ESU4"]) == "ESU4"
    assert feed_contract("ES", ["ESU4-ESZ4", "NQU4"]) == "ES"  # a spread, another root: undated
    assert feed_contract("MES", []) == "MES"
