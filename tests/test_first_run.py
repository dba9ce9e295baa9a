"""First run: the user's folders and commented default files appear once and are never overwritten."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import pytest

import tapeflow.trading.settings as settings_module
from tapeflow.appdirs import HOME_ENV, app_paths, ensure_first_run, find_resource, load_user_settings
from tapeflow.errors import TapeflowError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def user_home(tmp_path, monkeypatch) -> Path:
    """A fresh HOME with the XDG variables pointing inside it (what platformdirs reads on Linux)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.delenv(HOME_ENV, raising=False)
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (("XDG_CONFIG_HOME", ".config"), ("XDG_DATA_HOME", ".local/share"),
                     ("XDG_STATE_HOME", ".local/state"), ("XDG_CACHE_HOME", ".cache")):
        monkeypatch.setenv(var, str(home / sub))
    return home


def test_first_run_creates_the_folders_and_default_files_under_xdg_dirs(user_home):
    paths = ensure_first_run()
    assert paths.config_dir == user_home / ".config" / "tapeflow"
    assert paths.data_dir == user_home / ".local" / "share" / "tapeflow"
    for d in (paths.config_dir, paths.data_dir, paths.plugins_dir, paths.log_dir):
        assert d.is_dir(), d
    assert paths.settings_file.is_file()
    assert paths.is_first_run
    text = paths.settings_file.read_text(encoding="utf-8")
    assert text.startswith("# Tapeflow trading settings")
    assert "never overwritten" in text


def test_default_settings_parse_to_the_documented_example_values(user_home):
    s = load_user_settings(ensure_first_run())
    assert s.risk.max_position == 2
    assert s.risk.daily_loss_limit_cents == 50_000  # 500 USD
    assert s.risk.trailing_drawdown_cents == 200_000  # 2000 USD
    assert [(str(w.start), str(w.end)) for w in s.risk.trading_windows] == [
        ("09:30:00", "11:30:00"), ("13:30:00", "15:50:00")]
    assert s.paper.commission_cents == 59 and s.paper.exchange_fee_cents == 138
    assert s.paper.latency_ns == 5_000_000  # 5 ms
    assert s.auto.entry_type == "market"


def test_default_settings_use_exactly_the_keys_documented_in_trading_settings():
    """The default file is the docstring's example, so it invents no key the docs do not show."""
    doc = settings_module.__doc__
    example = textwrap.dedent(doc[doc.index("Example::") + len("Example::"):]).strip()
    documented = tomllib.loads(example)
    shipped = tomllib.loads(find_resource("defaults/trading.toml").read_text(encoding="utf-8"))
    assert shipped == documented


def test_rules_file_is_a_copy_of_the_shipped_example(user_home):
    example = find_resource("rules/example.toml")
    if example is None:
        pytest.skip("the rule engine's example rules are not in this tree yet")
    paths = ensure_first_run()
    assert paths.rules_file.read_bytes() == example.read_bytes()


def test_second_run_keeps_edited_files_and_reports_nothing_created(user_home):
    first = ensure_first_run()
    edited = "[risk]\nmax_position = 1\n"
    first.settings_file.write_text(edited, encoding="utf-8")
    first.rules_file.write_text("# my rules\n", encoding="utf-8")
    second = ensure_first_run()
    assert second.created == ()
    assert not second.is_first_run
    assert first.settings_file.read_text(encoding="utf-8") == edited
    assert first.rules_file.read_text(encoding="utf-8") == "# my rules\n"
    assert load_user_settings(second).risk.max_position == 1


def test_a_deleted_default_file_comes_back_and_the_other_is_left_alone(user_home):
    paths = ensure_first_run()
    paths.rules_file.write_text("# mine\n", encoding="utf-8")
    paths.settings_file.unlink()
    again = ensure_first_run()
    assert again.created == (paths.settings_file,)
    assert paths.settings_file.is_file()
    assert paths.rules_file.read_text(encoding="utf-8") == "# mine\n"


def test_tapeflow_home_puts_everything_in_one_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "portable"))
    paths = ensure_first_run()
    assert paths.config_dir == tmp_path / "portable" / "config"
    assert paths.plugins_dir == tmp_path / "portable" / "data" / "plugins"
    assert paths.settings_file.is_file()
    assert app_paths(tmp_path / "other").config_dir == tmp_path / "other" / "config"  # explicit wins


def test_bad_settings_file_error_names_the_file_and_the_key(user_home):
    paths = ensure_first_run()
    text = paths.settings_file.read_text(encoding="utf-8").replace("max_position = 2", 'max_position = "two"')
    paths.settings_file.write_text(text, encoding="utf-8")
    with pytest.raises(TapeflowError) as e:
        load_user_settings(paths)
    msg = str(e.value)
    assert str(paths.settings_file) in msg
    assert "[risk] max_position" in msg and "'two'" in msg


def test_unwritable_config_folder_is_one_error_naming_the_folder(tmp_path):
    blocker = tmp_path / "home"
    blocker.write_text("a file where the folder should be", encoding="utf-8")
    with pytest.raises(TapeflowError) as e:
        ensure_first_run(blocker)
    assert str(blocker) in str(e.value)
