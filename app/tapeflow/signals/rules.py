"""Rules: a detector + its parameters + filters + an action, read from a TOML file the user edits.

File layout (see ``resources/rules/example.toml`` for a commented one)::

    plugins = ["../../plugins"]          # optional plugin folders, relative to this file

    [[news]]                              # optional blackout list, ET unless the time has an offset
    at = 2024-07-11T08:30:00
    before = "2m"                         # default 2m
    after = "5m"                          # default 5m
    label = "CPI"

    [[rule]]
    name = "stacked buy"                  # unique
    detector = "stacked_imbalance"        # a built-in or plugin kind
    action = "enter_long"                 # alert | highlight | enter_long | enter_short
    qty = 1                               # entries: contracts
    stop_ticks = 8                        # entries: bracket stop distance (required)
    target_ticks = 12                     # entries: bracket target distance (optional)
    side = "buy"                          # buy | sell | any; entries default to their own side
    kinds = ["stacked_imbalance_retest"]  # only these signal kinds of the detector (default all)
    session = "rth"                       # any | rth | eth
    windows = ["09:30-11:30"]             # ET wall clock
    min_bar_volume = 500                  # contracts
    news_blackout = true                  # honour the [[news]] list (default true)
    enabled = true
    [rule.params]                         # detector parameters (defaults when absent)
    ratio = 3.0

A mistake raises one :class:`TapeflowError` naming the file, the line and the field.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tapeflow.core.events import Side
from tapeflow.core.timeutil import parse_duration_ns
from tapeflow.errors import TapeflowError
from tapeflow.signals.filters import SESSIONS, Filters, NewsWindow, et_naive_to_ns, parse_window
from tapeflow.signals.model import Action
from tapeflow.signals.plugins import Registry, load_registry

RULE_KEYS = {"name", "detector", "action", "qty", "stop_ticks", "target_ticks", "side", "kinds", "session",
             "windows", "min_bar_volume", "news_blackout", "enabled", "params"}
NEWS_KEYS = {"at", "before", "after", "label"}
TOP_KEYS = {"plugins", "news", "rule"}
_SIDES = {"buy": (Side.BUY,), "sell": (Side.SELL,), "any": (Side.BUY, Side.SELL, Side.NONE)}


@dataclass(frozen=True)
class Rule:
    """One rule: which detector, with which parameters, filtered how, doing what."""

    name: str
    detector: str
    params: Any  # the detector's Params dataclass instance
    action: Action = Action.ALERT
    filters: Filters = dataclasses.field(default_factory=Filters)
    qty: int = 1  # contracts, entries only
    stop_ticks: int | None = None
    target_ticks: int | None = None


@dataclass(frozen=True)
class RuleFile:
    """What a rules file holds once checked."""

    path: Path | None
    rules: tuple[Rule, ...]
    news: tuple[NewsWindow, ...]
    plugin_dirs: tuple[Path, ...]


class _Where:
    """Finds the line of a table or field in the TOML text (best effort, for error messages)."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def _headers(self) -> list[int]:
        return [i for i, line in enumerate(self.lines) if line.lstrip().startswith("[")]

    def line(self, table: str | None, index: int, key: str | None = None, sub: str | None = None) -> int:
        """1-based line of ``key`` in the ``index``-th ``[[table]]`` (inside ``[table.sub]`` if given)."""
        heads = self._headers()
        if table is None:
            lo = 0
            hi = heads[0] if heads else len(self.lines)
        else:
            own = [h for h in heads if re.match(rf"^\s*\[\[\s*{table}\s*\]\]", self.lines[h])]
            if index >= len(own):
                return 1
            lo = own[index]
            after = [h for h in heads if h > lo]
            hi = after[0] if after else len(self.lines)
            if sub is not None:
                end = next((h for h in after if not self.lines[h].lstrip().startswith(f"[{table}.")), len(self.lines))
                subs = [h for h in after if h < end and re.match(rf"^\s*\[\s*{table}\.{sub}\s*\]", self.lines[h])]
                if subs:
                    lo = subs[0]
                    hi = next((h for h in heads if h > lo), len(self.lines))
        if key is not None:
            pat = re.compile(rf"(^|[\s{{,]){re.escape(key)}\s*=")
            for i in range(lo, hi):
                if pat.search(self.lines[i].split("#", 1)[0]):
                    return i + 1
        return lo + 1

    def error(self, line: int, field: str, msg: str) -> TapeflowError:
        return TapeflowError(f"{self.path}:{line}: field {field!r}: {msg}")


def parse_rules(text: str, *, path: str | Path = "<rules>", registry: Registry | None = None) -> RuleFile:
    """Check a rules text and build its rules. Raises TapeflowError naming file, line and field."""
    where = _Where(str(path), text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise TapeflowError(f"{path}:{m[1] if m else 1}: not valid TOML: {e}") from None
    for key in data:
        if key not in TOP_KEYS:
            msg = f"unknown top-level key (expected one of {sorted(TOP_KEYS)})"
            raise where.error(where.line(None, 0, key), key, msg)
    base = Path(path).parent if str(path) != "<rules>" else Path.cwd()
    plugin_dirs = _plugin_dirs(data.get("plugins", []), base, where)
    if registry is None:
        registry = load_registry(plugin_dirs)
    news = tuple(_news(i, n, where) for i, n in enumerate(_table_list(data, "news", where)))
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, r in enumerate(_table_list(data, "rule", where)):
        rule = _rule(i, r, where, registry, news)
        if rule.name in seen:
            raise where.error(where.line("rule", i, "name"), "name", f"duplicate rule name {rule.name!r}")
        seen.add(rule.name)
        if r.get("enabled", True):
            rules.append(rule)
    return RuleFile(Path(path) if str(path) != "<rules>" else None, tuple(rules), news, tuple(plugin_dirs))


def load_rules(path: str | Path, *, registry: Registry | None = None) -> RuleFile:
    """Read and check a rules file."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TapeflowError(f"{p}: rules file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TapeflowError(f"{p}: cannot read rules file ({e})") from None
    return parse_rules(text, path=p, registry=registry)


def plugin_dirs_of(path: str | Path) -> tuple[Path, ...]:
    """The plugin folders a rules file lists (resolved against its folder); () if it cannot be read."""
    p = Path(path).expanduser()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
        return tuple(_plugin_dirs(data.get("plugins", []), p.parent, _Where(str(p), "")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, TapeflowError):
        return ()


class RuleSet:
    """The rules in force, reloadable: a bad new file leaves the previous rules active."""

    def __init__(self, path: str | Path, *, registry: Registry | None = None) -> None:
        self.path = Path(path)
        self._registry = registry
        self.file = load_rules(self.path, registry=registry)
        self.error: TapeflowError | None = None

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self.file.rules

    def reload(self) -> TapeflowError | None:
        """Read the file again; returns the error (and keeps the old rules) when it is bad."""
        try:
            self.file = load_rules(self.path, registry=self._registry)
        except TapeflowError as e:
            self.error = e
            return e
        self.error = None
        return None


def default_rules(registry: Registry | None = None) -> tuple[Rule, ...]:
    """One alert rule per detector at its default parameters (named after the detector)."""
    reg = registry or load_registry(use_entry_points=False)
    return tuple(Rule(kind, kind, cls.Params()) for kind, cls in reg.detectors.items())


# --- pieces -------------------------------------------------------------------------------
def _table_list(data: dict, name: str, where: _Where) -> list[dict]:
    items = data.get(name, [])
    if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
        raise where.error(where.line(None, 0, name), name, f"expected [[{name}]] tables")
    return items


def _plugin_dirs(value: Any, base: Path, where: _Where) -> list[Path]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.error(where.line(None, 0, "plugins"), "plugins", "expected a list of folder paths")
    return [(base / v).resolve() for v in value]


def _news(i: int, n: dict, where: _Where) -> NewsWindow:
    for key in n:
        if key not in NEWS_KEYS:
            raise where.error(where.line("news", i, key), key, f"unknown news key (expected {sorted(NEWS_KEYS)})")
    at = n.get("at")
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            at = None
    if not isinstance(at, datetime):
        raise where.error(where.line("news", i, "at"), "at", "expected a date-time such as 2024-07-11T08:30:00 (ET)")
    spans = []
    for key, default in (("before", 120), ("after", 300)):
        v = n.get(key, default)
        try:
            secs = v if isinstance(v, int) and not isinstance(v, bool) else parse_duration_ns(str(v)) // 10**9
        except TapeflowError:
            msg = f"expected a duration like '5m' or seconds, got {v!r}"
            raise where.error(where.line("news", i, key), key, msg) from None
        spans.append(int(secs))
    return NewsWindow(et_naive_to_ns(at), spans[0], spans[1], str(n.get("label", "")))


def _rule(i: int, r: dict, where: _Where, registry: Registry, news: tuple[NewsWindow, ...]) -> Rule:
    def err(key: str, msg: str, sub: str | None = None) -> TapeflowError:
        field = f"params.{key}" if sub else key
        return where.error(where.line("rule", i, key, sub), field, f"rule #{i + 1} ({r.get('name', '?')}): {msg}")

    for key in r:
        if key not in RULE_KEYS:
            raise err(key, f"unknown rule key (expected one of {sorted(RULE_KEYS)})")
    name = r.get("name")
    if not isinstance(name, str) or not name.strip():
        raise err("name", "every rule needs a name")
    det = r.get("detector")
    if det not in registry.detectors:
        raise err("detector", f"unknown detector {det!r}; known: {', '.join(sorted(registry.detectors))}")
    try:
        action = Action(r.get("action", "alert"))
    except ValueError:
        raise err("action", f"expected one of {[a.value for a in Action]}, got {r.get('action')!r}") from None
    params_raw = r.get("params", {})
    if not isinstance(params_raw, dict):
        raise err("params", "expected a [rule.params] table")
    params = _params(registry.detectors[det].Params, params_raw, lambda k, m: err(k, m, "params"))
    qty = _int(r, "qty", 1, 1, err)
    stop = _int(r, "stop_ticks", None, 1, err)
    target = _int(r, "target_ticks", None, 1, err)
    entry = action in (Action.ENTER_LONG, Action.ENTER_SHORT)
    if entry and stop is None:
        raise err("stop_ticks", f"{action.value} needs a bracket stop in ticks (stop_ticks = 8)")
    side_default = {Action.ENTER_LONG: "buy", Action.ENTER_SHORT: "sell"}.get(action, "any")
    side = r.get("side", side_default)
    if side not in _SIDES:
        raise err("side", f"expected buy, sell or any, got {side!r}")
    session = r.get("session", "any")
    if session not in SESSIONS:
        raise err("session", f"expected one of {list(SESSIONS)}, got {session!r}")
    windows_raw = r.get("windows", [])
    if not isinstance(windows_raw, list):
        raise err("windows", "expected a list like [\"09:30-11:30\"]")
    try:
        windows = tuple(parse_window(str(w)) for w in windows_raw)
    except ValueError as e:
        raise err("windows", str(e)) from None
    kinds = r.get("kinds", [])
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise err("kinds", "expected a list of signal kinds")
    blackout = r.get("news_blackout", True)
    enabled = r.get("enabled", True)
    for key, v in (("news_blackout", blackout), ("enabled", enabled)):
        if not isinstance(v, bool):
            raise err(key, f"expected true or false, got {v!r}")
    filters = Filters(
        session=session,
        windows=windows,
        news=news if blackout else (),
        min_bar_volume=_int(r, "min_bar_volume", 0, 0, err),
        sides=_SIDES[side],
        kinds=tuple(kinds),
    )
    return Rule(name.strip(), det, params, action, filters, qty, stop, target)


def _int(r: dict, key: str, default: int | None, low: int, err: Any) -> Any:
    v = r.get(key, default)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < low:
        raise err(key, f"expected a whole number >= {low}, got {v!r}")
    return v


def _params(cls: type, raw: dict, err: Any) -> Any:
    """Build a detector's Params from a TOML table: known names, right types, within bounds."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, v in raw.items():
        f = fields.get(key)
        if f is None:
            raise err(key, f"unknown parameter for this detector (known: {', '.join(fields) or 'none'})")
        values[key] = _check_param(f, v, lambda m, k=key: err(k, m))
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise err(next(iter(raw), "params"), str(e)) from None


def _check_param(f: dataclasses.Field, v: Any, err: Any) -> Any:
    default = f.default
    meta = f.metadata
    if isinstance(default, bool):
        if not isinstance(v, bool):
            raise err(f"expected true or false, got {v!r}")
        return v
    if isinstance(default, int):
        if not isinstance(v, int) or isinstance(v, bool):
            raise err(f"expected a whole number, got {v!r}")
    elif isinstance(default, float):
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise err(f"expected a number, got {v!r}")
        v = float(v)
    elif isinstance(default, str):
        if not isinstance(v, str):
            raise err(f"expected text, got {v!r}")
    elif isinstance(default, tuple):
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list):
            raise err(f"expected a list, got {v!r}")
        v = tuple(v)
    choices = meta.get("choices")
    if choices:
        for item in v if isinstance(v, tuple) else (v,):
            if item not in choices:
                raise err(f"expected one of {list(choices)}, got {item!r}")
    lo, hi = meta.get("min"), meta.get("max")
    if isinstance(v, int | float) and not isinstance(v, bool):
        if lo is not None and v < lo:
            raise err(f"must be >= {lo}, got {v!r}")
        if hi is not None and v > hi:
            raise err(f"must be <= {hi}, got {v!r}")
    return v
