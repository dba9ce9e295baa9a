"""The terminal holds its journal and kill switch latch alone and only trades on files it can write:
the same one-process-per-journal rule as ``tapeflow webhook`` (which would otherwise run beside it
on one journal, each blind to the other's kill), checked in-process and with two real processes."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from webhook_process import run_to_exit, running, tiny_tmpfs

from tapeflow.appdirs import AppPaths, ensure_first_run
from tapeflow.errors import TapeflowError
from tapeflow.file_lock import FileLock
from tapeflow.ui.session import build_session

SIM = "sim://rth?minutes=1&seed=3"


def _home(tmp_path: Path) -> AppPaths:
    return ensure_first_run(tmp_path / "home")


def _free(path: Path) -> bool:
    try:
        FileLock(path).release()
    except TapeflowError:
        return False
    return True


def test_a_terminal_session_holds_its_journal_and_latch_until_closed(tmp_path):
    paths = _home(tmp_path)
    session = build_session(SIM, paths, use_engine=False)
    assert not _free(paths.journal_file) and not _free(paths.kill_switch_file)
    session.close()
    assert _free(paths.journal_file) and _free(paths.kill_switch_file)


@pytest.mark.parametrize("held, what", [("journal_file", "journal"), ("kill_switch_file", "kill switch latch")])
def test_the_terminal_refuses_a_journal_or_latch_another_process_holds(tmp_path, held, what):
    paths = _home(tmp_path)
    holder = FileLock(getattr(paths, held), what)  # a second lock holder: flock locks conflict in-process too
    name = getattr(paths, held).name.replace(".", r"\.")
    refusal = rf"{name}: the {what} is in use by another Tapeflow process \(pid {os.getpid()}\)"
    with pytest.raises(TapeflowError, match=refusal):
        build_session(SIM, paths, use_engine=False)
    holder.release()
    assert _free(paths.journal_file) and _free(paths.kill_switch_file)  # the refusal left nothing locked


def test_the_terminal_refuses_a_latch_it_cannot_write(tmp_path, monkeypatch):
    paths = _home(tmp_path)

    def read_only(*args: object, **kw: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tapeflow.trading.kill_switch.os.replace", read_only)
    refusal = r"kill_switch\.json: the kill switch latch file is not writable: Read-only"
    with pytest.raises(TapeflowError, match=refusal):
        build_session(SIM, paths, use_engine=False)
    assert _free(paths.journal_file)


def test_the_terminal_refuses_a_read_only_data_folder(tmp_path):
    with tiny_tmpfs(tmp_path / "disk", 2048) as disk:
        paths = ensure_first_run(disk)
        build_session(SIM, paths, use_engine=False).close()  # creates the journal and the latch
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        with pytest.raises(TapeflowError, match=r"journal\.sqlite.*(Read-only|readonly|not writable)"):
            build_session(SIM, paths, use_engine=False)


def test_sessions_opened_on_the_same_files_share_one_journal_and_one_latch(tmp_path):
    """Opening another file in the window keeps the account: a kill latched in memory only
    (not yet on disk) is still latched in the next session."""
    paths = _home(tmp_path)
    first = build_session(SIM, paths, use_engine=False)
    second = build_session("sim://rth?minutes=1&seed=4", paths, use_engine=False, files=first.files)
    assert second.account.journal is first.account.journal
    assert second.account.kill_switch is first.account.kill_switch
    first.close()


def test_the_gui_refuses_to_start_trading_beside_a_webhook_on_its_journal(tmp_path):
    """Two real processes: ``tapeflow webhook`` on the terminal's journal and latch, then ``tapeflow gui``
    on the same home: the terminal exits 2 with one line naming the journal and the webhook's pid."""
    home = tmp_path / "home"
    paths = ensure_first_run(home)
    files = ("--journal", str(paths.journal_file), "--kill-switch-file", str(paths.kill_switch_file))
    with running(home, *files) as webhook:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TAPEFLOW_HOME=str(home),
                   PYTHONPATH=str(Path(__file__).resolve().parents[1] / "app"))
        out = tmp_path / "shot.png"
        r = subprocess.run([sys.executable, "-m", "tapeflow.cli", "gui", SIM, "--screenshot", str(out),
                            "--after", "0"], env=env, capture_output=True, text=True, timeout=90)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "not trading" in lines[0] and "journal.sqlite" in lines[0], lines[0]
    assert f"pid {webhook.proc.pid}" in lines[0], lines[0]
    assert not out.exists()


def test_a_webhook_refuses_to_start_on_the_journal_of_a_running_terminal(tmp_path):
    paths = _home(tmp_path)
    session = build_session(SIM, paths, use_engine=False)
    code, out = run_to_exit(paths.data_dir.parent, "--journal", str(paths.journal_file),
                            "--kill-switch-file", str(paths.kill_switch_file))
    session.close()
    assert code == 2 and "journal.sqlite: the journal is in use by another Tapeflow process" in out, out
    assert "listening on" not in out and "Traceback" not in out, out


def test_the_terminal_shows_the_refusal_in_a_dialog_and_exits_2(tmp_path, qapp, monkeypatch):
    from PySide6 import QtWidgets

    from tapeflow.ui.app import LaunchOptions, run_terminal

    paths = _home(tmp_path)
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "critical", lambda parent, title, text, *a: shown.append((title, text)))
    holder = FileLock(paths.journal_file, "journal")
    try:
        code = run_terminal(LaunchOptions(source=SIM, home=tmp_path / "home"))
    finally:
        holder.release()
    assert code == 2
    ((title, text),) = shown
    assert title == "Tapeflow is not trading"
    assert "journal.sqlite: the journal is in use by another Tapeflow process" in text
