"""``tapeflow data download`` with the real ``databento`` client against a local Historical API.

The server below answers the endpoints the client calls (``/v0/metadata.get_cost``,
``/v0/metadata.get_billable_size``, ``/v0/symbology.resolve``, ``/v0/timeseries.get_range``) with
the shapes the client reads, over TLS (the client only speaks https to a gateway), and streams
simulator-made DBN day files. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import ssl
import subprocess
import threading
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("databento", reason="the databento client is not installed (pip install 'tapeflow[databento]')")
from aiohttp import web

from tapeflow.cli import main
from tapeflow.history.calendar import trading_date_of
from tapeflow.history.catalog import scan
from tapeflow.history.simdays import write_sim_days

KEY = "db-test-key-not-a-secret"
DAYS = [date(2024, 7, 1), date(2024, 7, 2), date(2024, 7, 3), date(2024, 7, 5)]  # the 4th is a holiday
AUTH = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()  # the key as user name, no password
COST_PER_DAY = 1.25
SIZE_PER_DAY = 4_000_000


class FakeHistorical:
    """The Historical API endpoints the download uses; records what it was asked."""

    def __init__(self, files: dict[date, bytes]) -> None:
        self.files = files
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.cut_once: set[date] = set()  # days whose first stream breaks off half-way

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v0/metadata.get_cost", self.cost)
        app.router.add_post("/v0/metadata.get_billable_size", self.size)
        app.router.add_post("/v0/symbology.resolve", self.resolve)
        app.router.add_post("/v0/timeseries.get_range", self.get_range)
        return app

    async def _form(self, request: web.Request, name: str) -> dict[str, str]:
        if request.headers.get("Authorization", "") != AUTH:
            raise web.HTTPUnauthorized(text='{"detail": "bad key"}', content_type="application/json")
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.calls.append((name, form))
        return form

    def _day(self, form: dict[str, str]) -> date:
        return trading_date_of(int(form["start"]))

    async def cost(self, request: web.Request) -> web.Response:
        form = await self._form(request, "get_cost")
        return web.json_response(COST_PER_DAY if self._day(form) in self.files else 0.0)

    async def size(self, request: web.Request) -> web.Response:
        form = await self._form(request, "get_billable_size")
        return web.json_response(SIZE_PER_DAY if self._day(form) in self.files else 0)

    async def resolve(self, request: web.Request) -> web.Response:
        form = await self._form(request, "resolve")
        sym = form["symbols"]
        result = {sym: [{"d0": "2024-06-20", "d1": "2024-09-20", "s": "118"}]} if sym in ("ES.c.0", "ESU4") else {}
        return web.json_response({"result": result, "symbols": [sym], "stype_in": form["stype_in"],
                                  "stype_out": form["stype_out"], "start_date": form["start_date"],
                                  "end_date": form["end_date"], "partial": [], "not_found": [] if result else [sym],
                                  "message": "OK", "status": 0})

    async def get_range(self, request: web.Request) -> web.StreamResponse:
        form = await self._form(request, "get_range")
        data = self.files[self._day(form)]
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        if self._day(form) in self.cut_once:
            self.cut_once.discard(self._day(form))
            await resp.write(data[: len(data) // 2])
            request.transport.close()  # the connection drops mid-stream
            return resp
        for i in range(0, len(data), 65536):
            await resp.write(data[i : i + 65536])
        await resp.write_eof()
        return resp


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test server's certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def server(tls, tmp_path_factory, monkeypatch):
    """The fake API on 127.0.0.1 (its own event loop thread); yields (api, gateway URL)."""
    src = tmp_path_factory.mktemp("upstream")
    files = {}
    for p in write_sim_days(src, DAYS[0], len(DAYS), minutes=2, seed=5):
        files[date.fromisoformat(p.name.split("_")[-1].split(".")[0])] = p.read_bytes()
    api = FakeHistorical(files)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*tls)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(api.app())
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls[0]))
    monkeypatch.setenv("DATABENTO_API_KEY", KEY)
    try:
        yield api, f"https://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _download(gateway: str, folder: Path, *extra: str) -> int:
    return main(["data", "download", "--symbol", "ES", "--schema", "mbp-1", "--from", "2024-07-01", "--to",
                 "2024-07-05", "--data-dir", str(folder), "--gateway", gateway, *extra])


def test_download_estimates_cost_then_writes_one_file_per_trading_date(server, tmp_path, capsys):
    api, gateway = server
    assert _download(gateway, tmp_path, "--yes") == 0
    err = capsys.readouterr().err
    assert "$5.00" in err  # 4 trading dates at $1.25, shown before buying
    names = [c[0] for c in api.calls]
    assert names[0] == "resolve" and names.count("get_cost") == 4 and names.count("get_range") == 4
    assert names.index("get_range") > max(i for i, n in enumerate(names) if n == "get_cost")
    resolve = dict(api.calls[0][1])
    assert (resolve["symbols"], resolve["stype_in"], resolve["stype_out"]) == ("ES.c.0", "continuous", "instrument_id")
    ranges = [form for name, form in api.calls if name == "get_range"]
    assert {(f["symbols"], f["schema"], f["stype_in"], f["dataset"]) for f in ranges} == {
        ("ES.c.0", "mbp-1", "continuous", "GLBX.MDP3")}
    # 2024-07-02's window: from the 1st's 17:00 ET close (21:00 UTC) to the 2nd's (21:00 UTC)
    assert (ranges[1]["start"], ranges[1]["end"]) == ("1719867600000000000", "1719954000000000000")
    # Friday the 5th takes in Independence Day's short session: from Wednesday the 3rd's close
    assert (ranges[3]["start"], ranges[3]["end"]) == ("1720040400000000000", "1720213200000000000")
    entries = scan(tmp_path)
    assert [e.trading_date for e in entries] == DAYS
    for e in entries:
        assert Path(e.path).read_bytes() == api.files[e.trading_date]
    assert not list(tmp_path.glob("*.part"))


def test_a_day_already_downloaded_is_never_fetched_again(server, tmp_path, capsys):
    api, gateway = server
    assert _download(gateway, tmp_path, "--yes") == 0
    api.calls.clear()
    assert _download(gateway, tmp_path, "--yes") == 0
    assert api.calls == []  # no estimate, no stream: everything is already here
    assert "4 trading date(s) already here" in capsys.readouterr().err


def test_an_interrupted_download_resumes_with_the_missing_days_only(server, tmp_path, capsys):
    api, gateway = server
    api.cut_once.add(date(2024, 7, 3))
    assert _download(gateway, tmp_path, "--yes") == 2
    assert "2024-07-03" in capsys.readouterr().err
    assert [e.trading_date for e in scan(tmp_path)] == DAYS[:2]  # whole days only; the broken one is a .part
    api.calls.clear()
    assert _download(gateway, tmp_path, "--yes") == 0
    assert [trading_date_of(int(f["start"])) for n, f in api.calls if n == "get_range"] == DAYS[2:]
    assert [e.trading_date for e in scan(tmp_path)] == DAYS
    assert not list(tmp_path.glob("*.part"))


def test_without_a_terminal_a_purchase_needs_yes(server, tmp_path, capsys, monkeypatch):
    api, gateway = server
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    assert _download(gateway, tmp_path) == 2
    assert "pass --yes" in capsys.readouterr().err
    assert not [n for n, _ in api.calls if n == "get_range"]


def test_a_rejected_key_is_one_line_naming_the_call(server, tmp_path, capsys, monkeypatch):
    _, gateway = server
    monkeypatch.setenv("DATABENTO_API_KEY", "db-wrong")
    assert _download(gateway, tmp_path, "--yes") == 2
    err = capsys.readouterr().err
    assert "symbology.resolve failed" in err and "Traceback" not in err
