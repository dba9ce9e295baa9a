"""``tapeflow`` entry point.

Subcommands live one per module in :mod:`tapeflow.commands`; each module exposes
``register(subparsers)`` and is discovered here, so a feature adds its command without touching
this file. A :class:`~tapeflow.errors.TapeflowError` is printed on one line and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from tapeflow import __version__, commands
from tapeflow.errors import TapeflowError

DEFAULT_COMMAND = "gui"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tapeflow",
        description="Order-flow terminal for CME E-mini futures: footprint, delta, DOM, rules, risk-managed execution.",
    )
    parser.add_argument("--version", action="version", version=f"tapeflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args_list = sys.argv[1:] if argv is None else argv
    if not args_list:
        if DEFAULT_COMMAND in parser._subparsers._group_actions[0].choices:
            args_list = [DEFAULT_COMMAND]
        else:
            parser.print_help()
            return 0
    args = parser.parse_args(args_list)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except TapeflowError as e:
        print(f"tapeflow: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
