"""Webhook POST -> order accepted by the paper broker, measured from a client on loopback.

Run: ``.venv/bin/python benchmarks/bench_webhook.py [n_alerts] [concurrency]`` (default 3,000 and 16).
A real server on 127.0.0.1 (the full path: rate limit, parse, constant-time secret, replay guard,
risk, paper broker, in-memory journal) against a bare aiohttp handler that answers 200 and does
nothing, both driven by the same aiohttp client in the same run. Latency is request sent to reply
read (client side). Buys and sells alternate and the tape prints after each reply, so the
account stays near flat and the open-order list stays short. Prints figure, value, unit,
baseline, ratio (figure / baseline).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from tapeflow.trading.account import Account
from tapeflow.trading.testing import trades
from tapeflow.webhook.server import WebhookServer
from tapeflow.webhook.settings import Secret, WebhookSettings

SECRET = "benchmark-secret-0123456789"


class NullJournal:
    def __init__(self) -> None:
        self.n = 0

    def write(self, table: str, record: object) -> None:
        self.n += 1


def _alerts(n: int, run: str) -> list[dict]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        {"secret": SECRET, "action": "buy" if i % 2 == 0 else "sell", "symbol": "ES1!", "quantity": 1,
         "stop_ticks": 8, "time": now, "id": f"{run}-{i}"}
        for i in range(n)
    ]


async def _drive(url: str, bodies: list[dict], concurrency: int, after) -> tuple[list[float], float, int]:
    """Latencies (s), wall time (s) and errors for posting every body with ``concurrency`` in flight."""
    lat: list[float] = []
    errors = 0
    queue = list(reversed(bodies))
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as http:

        async def worker() -> None:
            nonlocal errors
            while queue:
                body = queue.pop()
                t = time.perf_counter()
                async with http.post(url, json=body) as r:
                    await r.read()
                    ok = r.status == 200
                lat.append(time.perf_counter() - t)
                errors += not ok
                after()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return lat, time.perf_counter() - t0, errors


async def _baseline_server() -> tuple[web.AppRunner, str]:
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/webhook", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/webhook"


async def main(n: int, concurrency: int) -> None:
    account = Account()
    price = [22_000]
    clock = [time.time_ns()]

    def print_trade() -> None:  # the tape moves after each reply: market orders fill
        clock[0] += 1_000_000
        account.on_events(trades(clock[0], [(price[0], 1, 1)]))

    print_trade()
    settings = WebhookSettings(secret=Secret(SECRET), port=0, rate_per_second=1e9, rate_burst=10**9,
                               max_age_seconds=3600)
    server = WebhookServer(account, settings, journal=NullJournal(), instruments={"ES"})
    await server.start()
    base_runner, base_url = await _baseline_server()
    url = f"{server.url}/webhook"
    rows = []
    for label, conc in (("sequential", 1), (f"concurrent x{concurrency}", concurrency)):
        await _drive(url, _alerts(200, f"warm-{label}"), conc, print_trade)  # warm up both paths
        await _drive(base_url, _alerts(200, "w"), conc, lambda: None)
        lat, wall, err = await _drive(url, _alerts(n, label), conc, print_trade)
        blat, bwall, berr = await _drive(base_url, _alerts(n, "b"), conc, lambda: None)
        q = statistics.quantiles(lat, n=100)
        bq = statistics.quantiles(blat, n=100)
        rows += [
            (f"{label}: alerts/s", n / wall, "1/s", n / bwall, err + berr),
            (f"{label}: p50 latency", q[49] * 1e3, "ms", bq[49] * 1e3, 0),
            (f"{label}: p99 latency", q[98] * 1e3, "ms", bq[98] * 1e3, 0),
        ]
    await server.stop()
    await base_runner.cleanup()
    filled = sum(1 for o in account.orders.values() if o.filled_qty)
    print(f"webhook bench: {n:,} alerts per mode, loopback, paper broker ({filled:,} orders filled)")
    print(f"{'figure':<34}{'value':>12} {'unit':<5}{'baseline':>12}{'ratio':>8}{'errors':>8}")
    for name, value, unit, base, err in rows:
        print(f"{name:<34}{value:>12,.3f} {unit:<5}{base:>12,.3f}{value / base:>8.2f}{err:>8}")


if __name__ == "__main__":
    n_alerts = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000
    conc = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    asyncio.run(main(n_alerts, conc))
