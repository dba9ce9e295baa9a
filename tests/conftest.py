"""Shared fixtures: paths to the real recorded data in ../shared/data (skip, loudly, when absent)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Nothing a test does may touch the real user's settings, layout, journal or kill-switch latch.
os.environ["TAPEFLOW_HOME"] = tempfile.mkdtemp(prefix="tapeflow-test-home-")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TAPEFLOW_SHARED_DATA", REPO.parent / "shared" / "data"))
MBP1_FILE = SHARED_DATA / "futures_mbp-1_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"
MBO_FILE = SHARED_DATA / "orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"
CSV_FILE = SHARED_DATA / "ts_and_dom_2min.csv"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real market data not available: {path} is missing (needs ../shared/data)")
    return path


@pytest.fixture
def mbp1_file() -> Path:
    return _need(MBP1_FILE)


@pytest.fixture
def mbo_file() -> Path:
    return _need(MBO_FILE)


@pytest.fixture
def csv_file() -> Path:
    return _need(CSV_FILE)
