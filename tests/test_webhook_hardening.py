"""The webhook server's rules for a hostile or failing world: a kill is never rate-limited, an
alert the journal cannot remember is not executed (a kill still is), executed alerts are
remembered by the journal across restarts, and settings refuse inf, nan and nonsense by name."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import pytest
from test_webhook_support import DAY, ES_5500, NOW_NS, SECRET, alert, make_rig, post_json, run

from tapeflow.errors import JournalError, TapeflowError
from tapeflow.store.journal import Journal
from tapeflow.trading.account import Account
from tapeflow.trading.settings import settings_from_dict
from tapeflow.trading.testing import et, trades
from tapeflow.webhook.ratelimit import RateLimiter
from tapeflow.webhook.server import WebhookServer
from tapeflow.webhook.settings import Secret, WebhookSettings, webhook_settings_from_dict


def test_a_kill_from_a_rate_limited_address_still_goes_through():
    rig = make_rig(rate_per_second=1.0, rate_burst=1)

    async def scenario(client):
        first = (await post_json(client, alert()))[0]
        limited = (await post_json(client, alert()))[0]
        kill = await post_json(client, alert(action="kill", symbol=None, quantity=None, reason="flood"))
        wrong = await post_json(client, alert(action="kill", secret="not-the-secret-at-all!"))
        return first, limited, kill, wrong

    first, limited, (kill_code, kill), (wrong_code, _) = run(rig, scenario)
    assert (first, limited, kill_code, wrong_code) == (200, 429, 200, 429)
    assert kill["kill_switch_latched"] and rig.account.kill_switch.latched
    assert rig.account.ledger.is_flat


class RefusingJournal:
    """Takes every record but those of one table (as a disk that filled up just then)."""

    def __init__(self, refused: str) -> None:
        self.refused = refused
        self.rows: list[tuple[str, object]] = []

    def write(self, table: str, record: object) -> None:
        if table == self.refused:
            raise JournalError(f"j.sqlite: cannot write to the journal ({table}): database or disk is full")
        self.rows.append((table, record))


def test_an_alert_the_journal_cannot_remember_is_not_executed_but_a_kill_is():
    rig = make_rig()
    rig.server.journal = RefusingJournal("webhook_alerts")

    async def scenario(client):
        buy = await post_json(client, alert(id="tv-1"))
        again = await post_json(client, alert(id="tv-1"))  # a retry is not called a duplicate
        kill = await post_json(client, alert(action="kill", symbol=None, quantity=None))
        return buy, again, kill

    (code, reply), (code2, reply2), (kill_code, _) = run(rig, scenario)
    assert (code, reply["code"], code2, reply2["code"]) == (503, "journal_unavailable", 503, "journal_unavailable")
    assert "disk is full" in reply["reason"]
    assert rig.account.orders == {}  # nothing was sent
    assert kill_code == 200 and rig.account.kill_switch.latched


def _server_on(journal: Journal) -> WebhookServer:
    account = Account()
    account.on_events(trades(et(DAY, "10:00"), [(ES_5500, 1, 1)]))
    return WebhookServer(account, WebhookSettings(secret=Secret(SECRET)), journal=journal, instruments={"ES"},
                         wall_ns=lambda: NOW_NS)


def test_executed_alert_ids_are_loaded_from_the_journal_by_the_next_server(tmp_path: Path):
    journal = Journal(tmp_path / "j.sqlite")
    body = msgspec.json.encode(alert(id="tv-7"))
    reply, _, key = _server_on(journal)._handle(body, "application/json", "127.0.0.1", NOW_NS)
    assert reply.code == "ok" and key == "id:tv-7"
    second = _server_on(journal)  # the process restarted
    assert second.load_seen() == 1
    again, _, _ = second._handle(body, "application/json", "127.0.0.1", NOW_NS)
    assert (again.code, again.order_id) == ("duplicate", reply.order_id)
    journal.close()


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"rate_per_second": math.nan}, "rate_per_second"),
        ({"rate_per_second": math.inf}, "rate_per_second"),
        ({"max_age_seconds": math.nan}, "max_age_seconds"),
        ({"dedup_hours": math.inf}, "dedup_hours"),
        ({"max_future_seconds": -1.0}, "max_future_seconds"),
        ({"port": 70_000}, "port"),
        ({"history": 10**30}, "history"),
        ({"rate_burst": 10**400}, "rate_burst"),
    ],
)
def test_webhook_settings_refuse_nan_inf_and_nonsense_naming_the_key(table, field):
    with pytest.raises(TapeflowError, match=rf"s.toml: \[webhook\] {field}: expected"):
        webhook_settings_from_dict(table, "s.toml")


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("risk", "daily_loss_limit_usd", math.inf),
        ("risk", "daily_loss_limit_usd", math.nan),
        ("risk", "trailing_drawdown_usd", "inf"),
        ("risk", "starting_balance_usd", "-nan"),
        ("risk", "max_position", 10**30),
        ("paper", "commission_usd", -0.5),
        ("paper", "latency_ms", math.inf),
        ("paper", "latency_ms", math.nan),
        ("paper", "slippage_ticks", -1),
    ],
)
def test_trading_settings_refuse_nan_inf_and_nonsense_naming_the_key(section, key, value):
    with pytest.raises(TapeflowError, match=rf"t.toml: \[{section}\] {key}: "):
        settings_from_dict({section: {key: value}}, "t.toml")


def test_a_rate_limiter_without_a_finite_rate_is_a_bug_not_an_open_door():
    with pytest.raises(ValueError):
        RateLimiter(math.nan, 20)


def test_an_order_the_journal_refuses_is_a_503_and_nothing_is_working():
    rig = make_rig()
    rig.account.journal = RefusingJournal("orders")  # the alert was remembered, then the disk filled

    async def scenario(client):
        return await post_json(client, alert())

    code, reply = run(rig, scenario)
    assert (code, reply["code"], reply.get("order_id")) == (503, "journal_unavailable", None), reply
    assert "order not sent" in reply["reason"] and rig.account.open_orders() == []
