"""``[rithmic]`` of trading.toml: app name, version, system and gateway, env overrides, clear errors."""

from __future__ import annotations

import pytest

from tapeflow import __version__
from tapeflow.errors import TapeflowError
from tapeflow.rithmic.settings import RithmicSettings, load_rithmic_settings, settings_from_table
from tapeflow.trading.settings import load_settings


def test_the_table_sets_app_name_version_system_and_gateway(tmp_path):
    p = tmp_path / "trading.toml"
    p.write_text('[risk]\nmax_position = 1\n\n[rithmic]\napp_name = "acme:tapeflow"\napp_version = "2.0"\n'
                 'system = "Rithmic Paper Trading"\nurl = "gw.example:443"\n', encoding="utf-8")
    assert load_rithmic_settings(p, env={}) == RithmicSettings("acme:tapeflow", "2.0", "Rithmic Paper Trading",
                                                               "gw.example:443")
    assert load_settings(p).risk.max_position == 1  # the trading settings accept the [rithmic] table


def test_env_overrides_system_and_url_and_defaults_fill_the_rest(tmp_path):
    s = load_rithmic_settings(tmp_path / "absent.toml", env={"RITHMIC_SYSTEM": "Rithmic 01", "RITHMIC_URL": "x:1"})
    assert s == RithmicSettings("tapeflow", __version__, "Rithmic 01", "x:1")
    assert settings_from_table(None, env={}) == RithmicSettings()


@pytest.mark.parametrize(("table", "message"), [
    ({"appname": "x"}, "trading.toml: [rithmic] appname: unknown key (known: app_name, app_version, system, url)"),
    ({"system": 1}, "trading.toml: [rithmic] system: expected a non-empty string, got 1"),
    ({"app_name": " "}, "trading.toml: [rithmic] app_name: expected a non-empty string"),
    ("x", "trading.toml: [rithmic] must be a table"),
])
def test_a_bad_table_is_an_error_naming_the_file_and_the_key(table, message):
    with pytest.raises(TapeflowError) as err:
        settings_from_table(table, "trading.toml", env={})
    assert str(err.value).startswith(message)


def test_a_broken_file_names_the_file(tmp_path):
    p = tmp_path / "trading.toml"
    p.write_text("[rithmic\n", encoding="utf-8")
    with pytest.raises(TapeflowError, match=r"trading\.toml"):
        load_rithmic_settings(p, env={})


def test_a_feed_without_a_session_builds_one_from_the_users_settings_and_credentials(tmp_path, monkeypatch):
    pytest.importorskip("async_rithmic", reason="optional extra tapeflow[rithmic] (async-rithmic) is not installed")
    from tapeflow.feeds.live_rithmic import session_from_settings

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "trading.toml").write_text('[rithmic]\napp_name = "acme:tapeflow"\n', encoding="utf-8")
    for var, value in {"TAPEFLOW_HOME": str(tmp_path), "RITHMIC_USER": "trader", "RITHMIC_PASSWORD": "pw",
                       "RITHMIC_SYSTEM": "Rithmic Paper Trading", "RITHMIC_URL": "gw.example:443"}.items():
        monkeypatch.setenv(var, value)
    creds = session_from_settings().client.credentials
    assert (creds["user"], creds["app_name"], creds["system_name"], creds["gateway"]) == (
        "trader", "acme:tapeflow", "Rithmic Paper Trading", "wss://gw.example:443")
