"""Settings from TOML: documented defaults, USD to cents exactly, errors that name file and key."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from tapeflow.errors import TapeflowError
from tapeflow.trading import TradingState, load_settings
from tapeflow.trading import settings as settings_module
from tapeflow.trading.settings import InstrumentLimits

M = "[paper.instruments.MES]"
EXAMPLE = settings_module.__doc__.split("Example::")[1]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "risk.toml"
    p.write_text(text)
    return p


def test_the_documented_example_loads(tmp_path: Path):
    s = load_settings(write(tmp_path, "\n".join(line[4:] for line in EXAMPLE.splitlines())))
    assert s.risk.max_position == 2
    assert s.risk.daily_loss_limit_cents == 50_000
    assert s.risk.trading_windows[0].start == time(9, 30)
    assert s.risk.on_daily_loss == TradingState.HALTED
    assert s.paper.commission_cents == 59 and s.paper.exchange_fee_cents == 138
    assert s.paper.latency_ns == 5_000_000
    assert s.auto.one_position_per_instrument


def test_instrument_tables_override_the_account_defaults(tmp_path: Path):
    s = load_settings(write(tmp_path, (
        "[risk]\nmax_position = 2\nmax_stop_ticks = 16\nmax_total_exposure_es = 1.5\n"
        "[risk.instruments.MES]\nmax_position = 10\n"
        "[risk.instruments.NQ]\nmax_stop_ticks = 40\nmax_order_qty = 1\n"
    ))).risk
    assert s.max_exposure_tenths == 15
    assert s.limits_for("MES") == InstrumentLimits(max_position=10, max_stop_ticks=16)
    assert s.limits_for("NQ") == InstrumentLimits(max_position=2, max_order_qty=1, max_stop_ticks=40)
    assert s.limits_for("ES") == InstrumentLimits(max_position=2, max_stop_ticks=16)


def test_zero_or_missing_limits_are_off(tmp_path: Path):
    s = load_settings(write(tmp_path, "[risk]\nmax_position = 0\n"))
    assert s.risk.max_position is None and s.risk.daily_loss_limit_cents is None


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("[risk]\nmax_position = 'two'\n", "[risk] max_position: expected an integer"),
        ("[risk]\nmax_positon = 2\n", "[risk] max_positon: unknown key"),
        ("[risk]\ndaily_loss_limit_usd = 1.005\n", "daily_loss_limit_usd: must be a non-negative"),
        ("[risk]\ntrading_windows = ['9:30 to 11']\n", "[risk] trading_windows[0]"),
        ("[risk]\non_daily_loss = 'panic'\n", "[risk] on_daily_loss: expected one of reducing, halted"),
        ("[paper]\nlatency_ms = -1\n", "[paper] latency_ms"),
        ("[risk.instruments.MES]\nmax_position = 'ten'\n", "[risk.instruments.MES] max_position: expected an"),
        ("[risk.instruments.MES]\nmax_position = -1\n", "[risk.instruments.MES] max_position: must be >= 0"),
        ("[risk.instruments.MES]\ndaily_loss_limit_usd = 5\n", "[risk.instruments.MES] daily_loss_limit_usd: unknown"),
        ("[risk.instruments.YM]\nmax_position = 1\n", "[risk.instruments.YM]: unknown instrument (known: ES"),
        ("[risk]\ninstruments = 3\n", "[risk.instruments] must hold tables"),
        ("[risk.instruments]\nMES = 3\n", "[risk.instruments.MES] must be a table"),
        ("[risk]\nmax_total_exposure_es = 1.55\n", "[risk] max_total_exposure_es: expected a non-negative number"),
        ("[risk]\nmax_total_exposure_es = 'two'\n", "[risk] max_total_exposure_es: expected a number"),
        (M + "\ncommission_usd = -0.2\n", M + " commission_usd: must be a non-negative"),
        (M + "\nexchange_fee_usd = 0.355\n", M + " exchange_fee_usd: must be a non-negative whole number of cents"),
        (M + "\ncommission_usd = 'cheap'\n", M + " commission_usd: expected an amount"),
        (M + "\nslippage_ticks = 0\n", M + " slippage_ticks: unknown key (known: commission_usd, exchange_fee_usd)"),
        ("[paper.instruments.YM]\ncommission_usd = 0.2\n", "[paper.instruments.YM]: unknown instrument (known: ES"),
        ("[paper.instruments]\nMES = 0.2\n", M + " must be a table"),
        ("[paper]\ninstruments = 3\n", "[paper.instruments] must hold tables"),
        ("[riks]\n", "unknown section [riks]"),
        ("[risk\n", "not valid TOML"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path: Path, text: str, expect: str):
    p = write(tmp_path, text)
    with pytest.raises(TapeflowError) as e:
        load_settings(p)
    assert str(p) in str(e.value) and expect in str(e.value)


def test_missing_file_is_a_user_error(tmp_path: Path):
    with pytest.raises(TapeflowError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_a_webhook_table_in_the_same_file_is_left_to_the_webhook_package():
    from tapeflow.trading.settings import settings_from_dict

    s = settings_from_dict({"risk": {"max_position": 2}, "webhook": {"port": 8080}}, "tapeflow.toml")
    assert s.risk.max_position == 2
