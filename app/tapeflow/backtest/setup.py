"""What a backtest runs with: the rules file, the trading settings, and sweep overrides of both.

An override is ``name=value``. ``paper.X``, ``risk.X`` and ``auto.X`` are keys of the trading
settings file (``paper.slippage_ticks=2``, ``risk.max_trades_per_day=5``) and go through the same
validation as the file. Anything else addresses rules: ``RULE.FIELD`` for one rule (by its name)
or ``FIELD`` for every rule that has it, where a field is a rule key (``stop_ticks``,
``target_ticks``, ``qty``) or a detector parameter (``ratio``).
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tapeflow.backtest.runner import EngineFactory
from tapeflow.core.instruments import Instrument
from tapeflow.errors import TapeflowError
from tapeflow.trading.settings import TradingSettings, settings_from_dict

SETTINGS_SECTIONS = ("paper", "risk", "auto")
RULE_FIELDS = ("qty", "stop_ticks", "target_ticks")


def default_rules_path() -> Path:
    """``resources/rules/example.toml`` wherever this install keeps it (``$TAPEFLOW_RULES`` first)."""
    from tapeflow.signals.paths import default_rules_path as find

    return find()


def default_settings_path() -> Path | None:
    """The user's trading settings if the terminal has created them, else the shipped defaults."""
    from tapeflow.appdirs import DEFAULT_SETTINGS_RESOURCE, app_paths, find_resource

    user = app_paths().settings_file
    return user if user.is_file() else find_resource(DEFAULT_SETTINGS_RESOURCE)


def read_settings_doc(path: str | Path | None) -> dict[str, Any]:
    """The settings file as a TOML document (overrides are applied to it before validation)."""
    if path is None:
        return {}
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TapeflowError(f"{p}: settings file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise TapeflowError(f"{p}: not valid TOML: {e}") from None


def parse_value(text: str) -> Any:
    """A sweep value as TOML reads it (``3`` int, ``2.5`` float, ``true``), else the bare string."""
    try:
        return tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def split_overrides(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(settings overrides, rule overrides)."""
    s = {k: v for k, v in overrides.items() if k.split(".", 1)[0] in SETTINGS_SECTIONS}
    return s, {k: v for k, v in overrides.items() if k not in s}


def build_settings(doc: Mapping[str, Any], overrides: Mapping[str, Any], path: str = "<settings>") -> TradingSettings:
    """Validated settings from a document plus ``section.key`` overrides."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in doc.items()}
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        if not name:
            raise TapeflowError(f"--sweep {key}: expected {section}.KEY")
        data.setdefault(section, {})[name] = value
    return settings_from_dict(data, path)


def load_rule_list(path: str | Path) -> tuple[Any, ...]:
    """The enabled rules of a rules file (``tapeflow.signals.rules.Rule`` records)."""
    from tapeflow.signals.rules import load_rules

    return tuple(load_rules(path).rules)


def apply_rule_overrides(rules: Sequence[Any], overrides: Mapping[str, Any]) -> tuple[Any, ...]:
    """Rules with fields or detector parameters replaced; a name that matches nothing is an error."""
    out = list(rules)
    for key, value in overrides.items():
        target, _, name = key.rpartition(".")
        hit = False
        for i, rule in enumerate(out):
            if target and rule.name != target:
                continue
            new = _override(rule, name, value)
            if new is not None:
                out[i], hit = new, True
        if not hit:
            names = ", ".join(r.name for r in rules) or "none"
            where = f"rule {target!r}" if target else "any rule"
            raise TapeflowError(f"--sweep {key}: {name!r} is not a field or parameter of {where} (rules: {names})")
    return tuple(out)


def _override(rule: Any, name: str, value: Any) -> Any:
    if name in RULE_FIELDS:
        return dataclasses.replace(rule, **{name: value})
    params = rule.params
    if dataclasses.is_dataclass(params) and name in {f.name for f in dataclasses.fields(params)}:
        current = getattr(params, name)
        if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        try:
            return dataclasses.replace(rule, params=dataclasses.replace(params, **{name: value}))
        except (TypeError, ValueError) as e:
            raise TapeflowError(f"--sweep {rule.name}.{name}={value!r}: {e}") from None
    return None


def rule_engine_factory(rules: Sequence[Any] | str | Path) -> EngineFactory:
    """A factory of fresh :class:`tapeflow.signals.engine.RuleEngine` instances.

    Given a path, the engine reads the file itself, exactly as the terminal does (plugins listed
    in the file included); given rules (after sweep overrides), it takes them as they are.
    """
    from tapeflow.signals.engine import RuleEngine

    frozen: tuple[Any, ...] | Path = Path(rules) if isinstance(rules, str | Path) else tuple(rules)

    def make(inst: Instrument) -> RuleEngine:
        return RuleEngine(frozen, inst)

    return make
