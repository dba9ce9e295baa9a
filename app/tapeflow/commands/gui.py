"""``tapeflow gui [FEED ...]``: the terminal window (the default command).

Several feeds (``tapeflow gui es.dbn.zst nq.csv``, or ``--feed`` repeated) open one chart per
instrument on one account; no feed reopens the last window of several instruments, else the sample.

Qt is imported only inside :func:`run`, so every other command works without the ``gui`` extra.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from tapeflow.commands import _live_mode as live_mode
from tapeflow.errors import TapeflowError


def _speed(text: str) -> float | None:
    t = text.strip().lower()
    if t in ("max", "none"):
        return None
    t = t.removesuffix("x")
    try:
        v = float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"speed must be a number like 1, 10x or 'max', got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"speed must be positive, got {text!r}")
    return v


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the terminal (default: the simulator in replay at 1x, paper trading)")
    p.add_argument("source", nargs="*", default=[], metavar="FEED",
                   help="DBN (.dbn, .dbn.zst) or CSV file, or sim://...; several: one chart per instrument on one "
                        "account (default: the instruments of the last window of several, else the simulated sample); "
                        "or one live feed: ws://host:port, rithmic:ES (with --broker rithmic --live: one session)")
    p.add_argument("--feed", action="append", default=[], metavar="FEED",
                   help="another feed (repeatable; the same as listing it as an argument)")
    p.add_argument("--symbol", help="instrument when the file does not say (ES, MES, NQ, MNQ or e.g. ESZ6); "
                                    "with several feeds, for those that do not say (a CSV file)")
    p.add_argument("--tz", help="time zone of naive CSV timestamps (default UTC)")
    p.add_argument("--speed", type=_speed, default=1.0, help="replay speed: 1, 2, 5, 10, 50, ... or max (default 1)")
    p.add_argument("--bar", default="1m", help="footprint bar: 1m, 5m, 30s, 500t, 1000v (default 1m)")
    p.add_argument("--theme", choices=("dark", "light"), help="colour theme (default: the last one used, dark)")
    p.add_argument("--screenshot", type=Path, metavar="OUT.png", help="save a screenshot of the window and exit")
    p.add_argument("--after", type=float, default=5.0, metavar="SECONDS",
                   help="with --screenshot: replay this long first (default 5)")
    live_mode.add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from tapeflow.ui.app import LaunchOptions, run_terminal
    except ImportError as e:
        print(f"tapeflow: the terminal needs the gui extra ({e.name or e}): pip install 'tapeflow[gui]'"
              " (or pip install -e '.[gui]' in a checkout)", file=sys.stderr)
        return 2
    if args.after < 0:
        raise TapeflowError(f"--after must be >= 0 seconds, got {args.after}")
    from tapeflow.appdirs import app_paths

    feeds = [*args.source, *args.feed]
    live_mode.apply_settings(args, app_paths().settings_file)  # [broker] of trading.toml unless flags chose
    live_mode.check_mode(args)
    if args.live and len(feeds) > 1:
        raise TapeflowError(f"--live trades one feed: open one source, not {len(feeds)} (several feeds trade on paper)")
    opts = LaunchOptions(speed=args.speed, symbol=args.symbol, tz=args.tz, bar=args.bar, theme=args.theme,
                         screenshot=args.screenshot, after_s=args.after, live=args if args.live else None,
                         reopen=not feeds)
    if len(feeds) == 1:
        opts = dataclasses.replace(opts, source=feeds[0])
    elif feeds:
        opts = dataclasses.replace(opts, source=feeds[0], sources=tuple(feeds))
    return run_terminal(opts)
