"""Entry point of the frozen app (what PyInstaller runs; ``tapeflow`` from pip uses ``tapeflow.cli``).

Why a separate script: installers and CI probe an app with a flag (``tapeflow --selftest``), while
the CLI has subcommands; this maps the flag onto ``tapeflow selftest`` and otherwise hands the
arguments to :func:`tapeflow.cli.main` unchanged. A double-click (no arguments) starts the GUI,
after making sure the user's folders and default files exist.
"""

from __future__ import annotations

import multiprocessing
import sys

SELFTEST_FLAG = "--selftest"


def translate_argv(argv: list[str]) -> list[str]:
    """``--selftest [opts]`` anywhere -> ``selftest [opts]``; anything else unchanged."""
    if SELFTEST_FLAG in argv:
        return ["selftest", *(a for a in argv if a != SELFTEST_FLAG)]
    return list(argv)


def main() -> int:
    multiprocessing.freeze_support()  # a frozen child process must not start another app
    from tapeflow.cli import main as cli_main
    from tapeflow.errors import TapeflowError

    argv = translate_argv(sys.argv[1:])
    if not argv:
        from tapeflow.appdirs import ensure_first_run

        try:
            ensure_first_run()
        except TapeflowError as e:
            print(f"tapeflow: error: {e}", file=sys.stderr)
            return 2
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
