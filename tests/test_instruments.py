from datetime import date
from decimal import Decimal

import pytest

from tapeflow.core.instruments import front_month, instrument, parse_symbol, third_friday
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
    ],
)
def test_parse_symbol(text, code, month, year):
    c = parse_symbol(text, today=date(2026, 11, 25))
    assert (c.code, c.month, c.year) == (code, month, year)


def test_parse_symbol_rejects_unknown_products():
    with pytest.raises(TapeflowError, match="cannot parse"):
        parse_symbol("CLZ6")


def test_front_month_rolls_eight_days_before_third_friday():
    assert third_friday(2026, 12) == date(2026, 12, 18)
    assert front_month(date(2026, 11, 25)) == (2026, 12)
    assert front_month(date(2026, 12, 9)) == (2026, 12)
    assert front_month(date(2026, 12, 10)) == (2027, 3)  # roll Thursday, eight days before expiry
