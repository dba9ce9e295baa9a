"""Signal -> order on the wire: the ProjectX and Rithmic adapters against local venues, next to the paper path.

Run: ``.venv/bin/python benchmarks/bench_live_broker.py [n_orders]`` (default 2,000). One process, one
event loop, the local fake venue of the tests on 127.0.0.1. Figures (p50 / p99, microseconds):

* paper: ``Account.submit`` returning (risk, journal-less, paper broker's SUBMITTED + ACCEPTED);
* bare POST: a plain aiohttp POST of the same body, from the call to the venue's handler seeing it
  (the HTTP stack and loopback: the baseline, not ours);
* live: ``Account.submit`` on the ProjectX broker to the venue's handler seeing the place request;
* ours: ``Account.submit`` to the moment the adapter hands the request to aiohttp (kill switch,
  risk, order book, task switch, JSON body): the part added by our side, measured directly.
  Target: p99 under 1 ms. (End-to-end minus the bare POST is printed too, but on a shared
  machine loop stalls of a few ms land in either tail and make that difference noise.)
* webhook: a TradingView alert POSTed to the webhook server -> the place request at the venue, next
  to the same alert on a paper account (POST -> reply, the order accepted by the paper broker);
  printed beside: webhook -> venue minus two bare POSTs (two loopback HTTP hops).
  The venue fills each market order at once, so the account stays near flat.

Rithmic (the fake gateway of the tests: TLS websocket, Rithmic framing, the real ``RithmicClient``
on a ``RithmicSession``):

* rithmic bare frame: a prebuilt RequestNewOrder frame written to the order plant's socket, to the
  gateway's handler seeing it (TLS, websocket, loopback, the fake's decode: the baseline);
* rithmic live: ``Account.submit`` on the Rithmic broker to the gateway's handler seeing the order;
* rithmic ours: ``Account.submit`` to the order frame written to the socket (kill switch, risk,
  order book, task switch, protobuf build and framing): our side. Target: p99 under 1 ms.

Accounts are renewed every 50 orders (the orders rest, and thousands of them would time the risk
manager's scan of working orders instead of the path). The venue's documented rate limit (200
requests / 60 s) is lifted for the run: it would measure the throttle's wait, not our latency.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_projectx import FakeProjectX
from fake_rithmic.server import frame, make
from rithmic_venue import ACCOUNT, CONTRACTS, Venue, make_session

from tapeflow.core.events import Side
from tapeflow.trading import Account, OrderRequest, OrderType, RiskSettings, TradingSettings
from tapeflow.trading.live.projectx.connect import connect_projectx
from tapeflow.trading.live.rithmic.broker import RithmicBroker
from tapeflow.trading.live.throttle import Throttle
from tapeflow.trading.testing import trades
from tapeflow.webhook.server import WebhookServer
from tapeflow.webhook.settings import Secret, WebhookSettings


class StampedVenue(FakeProjectX):
    """The fake venue, noting when each place request reached its handler."""

    arrived: asyncio.Event | None = None
    t_arrive = 0

    async def _place(self, request: Any, body: dict[str, Any], ok: dict[str, Any]) -> Any:
        self.t_arrive = time.perf_counter_ns()
        assert self.arrived is not None
        self.arrived.set()
        return await super()._place(request, body, ok)

    async def _rest(self, request: Any) -> Any:
        if request.path == "/api/Bare":
            self.t_arrive = time.perf_counter_ns()
            assert self.arrived is not None
            self.arrived.set()
            return aiohttp.web.json_response({"success": True})
        return await super()._rest(request)


class NullJournal:
    def write(self, table: str, record: object) -> None:
        pass


SECRET = "benchmark-secret-0123456789"


def alert(i: int, run: str) -> dict[str, Any]:
    return {"secret": SECRET, "action": "buy" if i % 2 == 0 else "sell", "symbol": "ES1!", "quantity": 1,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "id": f"{run}-{i}"}


async def webhook_path(venue: StampedVenue, broker: Any, session: aiohttp.ClientSession, n: int
                       ) -> tuple[list[int], list[int]]:
    """(live POST -> place at venue, paper POST -> reply) in ns, ``n`` alerts each after 50 warm-up."""
    settings = WebhookSettings(secret=Secret(SECRET), port=0, rate_per_second=1e9, rate_burst=10**9,
                               max_age_seconds=3600)
    # no brackets: each alert is one order on the wire (venue bracket legs would pile up over the run)
    trading = TradingSettings(risk=RiskSettings(require_stop_for_automation=False))
    live = WebhookServer(Account(trading, broker=broker, name="bench"), settings, journal=NullJournal(),
                         instruments={"ES"})
    paper_acct = Account(trading, name="paper")
    paper = WebhookServer(paper_acct, settings, journal=NullJournal(), instruments={"ES"})
    await live.start()
    await paper.start()
    clock = [time.time_ns()]
    live_ns, paper_ns = [], []
    assert venue.arrived is not None
    for i in range(n + 50):
        venue.arrived.clear()
        t0 = time.perf_counter_ns()
        async with session.post(f"{live.url}/webhook", json=alert(i, "live")) as r:
            reply = await r.read()
            if r.status != 200:
                raise SystemExit(f"live webhook refused alert {i}: {r.status} {reply.decode()}")
        await asyncio.wait_for(venue.arrived.wait(), 10)
        t_live = venue.t_arrive - t0
        await broker.idle()
        venue.fill(max(venue.orders), 1, 5000.0)
        t0 = time.perf_counter_ns()
        async with session.post(f"{paper.url}/webhook", json=alert(i, "paper")) as r:
            await r.read()
        t_paper = time.perf_counter_ns() - t0
        clock[0] += 1_000_000
        paper_acct.on_events(trades(clock[0], [(22_000, 1, 1)]))
        if i >= 50:
            live_ns.append(t_live)
            paper_ns.append(t_paper)
    await live.stop()
    await paper.stop()
    return live_ns, paper_ns


async def rithmic_path(n: int, req: OrderRequest) -> tuple[list[int], list[int], list[int]]:
    """(bare frame -> handler, submit -> handler, submit -> frame written) in ns, ``n`` orders after 50 warm-up."""
    venue = Venue()
    arrived = asyncio.Event()
    t_arrive = [0]
    submit = venue.server.handlers[312]

    async def stamped(conn: Any, msg: Any) -> None:
        t_arrive[0] = time.perf_counter_ns()
        arrived.set()
        if msg.user_tag != "bare":
            await submit(conn, msg)

    venue.server.on(312, stamped)
    await venue.server.start()
    session = make_session(venue.server)
    broker = RithmicBroker(session, ACCOUNT, CONTRACTS)
    t_sent = [0]

    def on_sent(template_id: int) -> None:
        if template_id == 312:
            t_sent[0] = time.perf_counter_ns()

    broker.wire.sent_hook = on_sent
    await broker.start()
    plant = session.client.plants["order"]
    bare = frame(make(312, user_tag="bare", account_id=ACCOUNT, symbol="ESZ6", exchange="CME", quantity=1,
                      price=4000.0, transaction_type=1, duration=1, price_type=1, trade_route="simulator",
                      manual_or_auto=1, user_msg=["bench"]))
    bare_ns, live_ns, ours_ns = [], [], []
    acct = Account(broker=broker, name="bench")
    for i in range(n + 50):
        if i % 50 == 0:
            acct = Account(broker=broker, name="bench")
        arrived.clear()
        t0 = time.perf_counter_ns()
        async with plant.lock:
            await plant.ws.send(bare)
        await arrived.wait()
        t_bare = t_arrive[0] - t0
        arrived.clear()
        t0 = time.perf_counter_ns()
        acct.submit(req)
        await arrived.wait()
        t_live, t_ours = t_arrive[0] - t0, t_sent[0] - t0
        await broker.idle()
        if i >= 50:
            bare_ns.append(t_bare)
            live_ns.append(t_live)
            ours_ns.append(t_ours)
    await broker.stop()
    await session.close()
    await venue.server.stop()
    return bare_ns, live_ns, ours_ns


def pct(xs: list[int], q: float) -> float:
    return statistics.quantiles(xs, n=1000)[int(q * 10) - 1] / 1000 if len(xs) > 1 else xs[0] / 1000


async def main(n: int) -> None:
    venue = StampedVenue()
    venue.arrived = asyncio.Event()
    url = await venue.start()
    broker = await connect_projectx("bench", "key-123", api_url=url, hub_url=url.replace("http", "ws") + "/hubs/user")
    broker.client.throttle = Throttle(10**9, 1.0)
    sent = [0]

    def on_send(path: str) -> None:
        if path == "/api/Order/place":
            sent[0] = time.perf_counter_ns()

    broker.client.on_send = on_send
    acct = Account(broker=broker, name="bench")
    await broker.start()
    paper = Account(name="paper")
    req = OrderRequest(instrument="ES", side=Side.BUY, qty=1, type=OrderType.LIMIT, limit_price=16000)
    body = {"accountId": 465, "contractId": "CON.F.US.EP.Z26", "type": 1, "side": 0, "size": 1,
            "limitPrice": 4000.0, "stopPrice": None, "trailPrice": None, "customTag": "tfbench-1"}
    session = aiohttp.ClientSession()
    paper_ns, bare_ns, live_ns, ours_ns = [], [], [], []
    for i in range(n + 50):  # the first 50 warm up
        if i % 50 == 0:  # fresh accounts: thousands of resting orders would time the risk scan, not the path
            paper = Account(name="paper")
            acct = Account(broker=broker, name="bench")
        t0 = time.perf_counter_ns()
        paper.submit(req)
        t_paper = time.perf_counter_ns() - t0

        venue.arrived.clear()
        t0 = time.perf_counter_ns()
        async with session.post(url + "/api/Bare", json=body) as r:
            await r.read()
        t_bare = venue.t_arrive - t0

        venue.arrived.clear()
        t0 = time.perf_counter_ns()
        acct.submit(req)
        await venue.arrived.wait()
        t_live = venue.t_arrive - t0
        t_ours = sent[0] - t0
        await broker.idle()
        if i >= 50:
            paper_ns.append(t_paper)
            bare_ns.append(t_bare)
            live_ns.append(t_live)
            ours_ns.append(t_ours)
    hook_live, hook_paper = await webhook_path(venue, broker, session, n)
    await session.close()
    await broker.stop()
    await venue.stop()
    r_bare, r_live, r_ours = await rithmic_path(n, req)
    print(f"orders: {n}  (microseconds)")
    print(f"{'figure':<34}{'p50':>10}{'p99':>10}")
    for name, xs in (("paper: submit returns", paper_ns), ("baseline: bare POST to handler", bare_ns),
                     ("live: submit -> place at venue", live_ns)):
        print(f"{name:<34}{pct(xs, 50):>10.1f}{pct(xs, 99):>10.1f}")
    print(f"{'ours: submit -> request to aiohttp':<34}{pct(ours_ns, 50):>10.1f}{pct(ours_ns, 99):>10.1f}"
          "   target p99 < 1000")
    print(f"{'end to end minus bare POST':<34}{pct(live_ns, 50) - pct(bare_ns, 50):>10.1f}"
          f"{pct(live_ns, 99) - pct(bare_ns, 99):>10.1f}")
    for name, xs in (("webhook paper: POST -> reply", hook_paper), ("webhook live: POST -> place", hook_live)):
        print(f"{name:<34}{pct(xs, 50):>10.1f}{pct(xs, 99):>10.1f}")
    print(f"{'webhook live minus 2 bare POSTs':<34}{pct(hook_live, 50) - 2 * pct(bare_ns, 50):>10.1f}"
          f"{pct(hook_live, 99) - 2 * pct(bare_ns, 99):>10.1f}")
    for name, xs in (("rithmic baseline: bare frame", r_bare), ("rithmic live: submit -> gateway", r_live)):
        print(f"{name:<34}{pct(xs, 50):>10.1f}{pct(xs, 99):>10.1f}")
    print(f"{'rithmic ours: submit -> frame sent':<34}{pct(r_ours, 50):>10.1f}{pct(r_ours, 99):>10.1f}"
          "   target p99 < 1000")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
