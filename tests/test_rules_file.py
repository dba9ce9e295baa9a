"""Rules files: the shipped example, errors that name file/line/field, reload keeping old rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tapeflow.errors import TapeflowError
from tapeflow.signals.detectors import BUILTINS
from tapeflow.signals.model import Action
from tapeflow.signals.paths import default_rules_path
from tapeflow.signals.rules import RuleSet, load_rules, parse_rules

GOOD = """
[[rule]]
name = "stacked"
detector = "stacked_imbalance"
[rule.params]
ratio = 2.5

[[rule]]
name = "long on absorption"
detector = "absorption"
action = "enter_long"
stop_ticks = 8
target_ticks = 12
session = "rth"
windows = ["09:30-11:30"]
"""


def test_example_rules_file_loads_and_covers_every_builtin_detector():
    f = load_rules(default_rules_path())
    assert {r.detector for r in f.rules} >= set(BUILTINS)
    entries = [r for r in f.rules if r.action in (Action.ENTER_LONG, Action.ENTER_SHORT)]
    assert entries and all(r.stop_ticks and r.target_ticks for r in entries)
    assert default_rules_path().parent.name == "rules"


def test_rules_parse_params_filters_and_bracket():
    f = parse_rules(GOOD)
    stacked, long = f.rules
    assert stacked.params.ratio == 2.5 and stacked.params.min_levels == 3
    assert long.action is Action.ENTER_LONG and (long.stop_ticks, long.target_ticks) == (8, 12)
    assert long.filters.session == "rth" and len(long.filters.windows) == 1
    assert [int(s) for s in long.filters.sides] == [1]  # enter_long takes buy signals only


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ('[[rule]]\nname = "a"\ndetector = "nope"\n', 3, "detector"),
        ('[[rule]]\nname = "a"\ndetector = "absorption"\n\n[rule.params]\nfactor = "big"\n', 6, "params.factor"),
        ('[[rule]]\nname = "a"\ndetector = "absorption"\n[rule.params]\nfactr = 2.0\n', 5, "params.factr"),
        ('[[rule]]\nname = "a"\ndetector = "stacked_imbalance"\nparams = { min_levels = 1 }\n', 4, "params.min_levels"),
        ('[[rule]]\nname = "a"\ndetector = "absorption"\naction = "enter_long"\n', 1, "stop_ticks"),
        ('[[rule]]\nname = "a"\ndetector = "absorption"\nwindows = ["9:30-25:00"]\n', 4, "windows"),
        ('[[rule]]\nname = "a"\ndetector = "absorption"\n\n[[rule]]\nname = "b"\ndetector = "x"\n', 7, "detector"),
        ('[[news]]\nat = "tomorrow"\n', 2, "at"),
    ],
)
def test_bad_rules_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str):
    p = tmp_path / "my_rules.toml"
    p.write_text(text)
    with pytest.raises(TapeflowError) as e:
        load_rules(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}:{line}:") and f"'{field}'" in msg, msg


def test_toml_syntax_error_names_the_line(tmp_path: Path):
    p = tmp_path / "r.toml"
    p.write_text('[[rule]]\nname = "a"\ndetector = = 3\n')
    with pytest.raises(TapeflowError, match=rf"^{p}:3: not valid TOML"):
        load_rules(p)


def test_reload_keeps_old_rules_when_the_new_file_is_bad(tmp_path: Path):
    p = tmp_path / "r.toml"
    p.write_text(GOOD)
    rs = RuleSet(p)
    assert [r.name for r in rs.rules] == ["stacked", "long on absorption"]
    p.write_text(GOOD.replace("ratio = 2.5", "ratio = 0.5"))  # below the minimum of 1.0
    err = rs.reload()
    assert err is not None and ":6:" in str(err) and "params.ratio" in str(err)
    assert rs.rules[0].params.ratio == 2.5 and rs.error is err
    p.write_text(GOOD.replace("ratio = 2.5", "ratio = 4.0"))
    assert rs.reload() is None and rs.rules[0].params.ratio == 4.0 and rs.error is None


def test_disabled_rules_are_skipped_and_names_must_be_unique():
    assert parse_rules(GOOD.replace('name = "stacked"', 'name = "stacked"\nenabled = false')).rules[0].name != "stacked"
    with pytest.raises(TapeflowError, match="duplicate rule name"):
        parse_rules(GOOD.replace("long on absorption", "stacked"))
