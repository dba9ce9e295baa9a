"""Status endpoint: needs the secret (header) or the status token, shows the position."""

from __future__ import annotations

from test_webhook_support import SECRET, alert, make_rig, post_json, run

from tapeflow.webhook.auth import status_token
from tapeflow.webhook.settings import Secret


def _filled_long(rig):
    async def scenario(client):
        await post_json(client, alert(quantity=1, strategy="<script>alert(1)</script>"))
        rig.tape(seconds=1)
        token = rig.server.status_token
        return {
            "none": await client.get("/status"),
            "secret_in_url": await client.get(f"/status?token={SECRET}"),
            "header": await (await client.get("/status", headers={"X-Tapeflow-Secret": SECRET})).json(),
            "bearer": (await client.get("/status", headers={"Authorization": f"Bearer {token}"})).status,
            "json": await (await client.get(f"/status?token={token}")).json(),
            "html_none": (await client.get("/status.html")).status,
            "html": await (await client.get(f"/status.html?token={token}")).text(),
        }

    return run(rig, scenario)


def test_status_requires_the_secret_or_the_status_token_never_the_secret_in_a_url():
    out = _filled_long(make_rig())
    assert out["none"].status == 401
    assert out["secret_in_url"].status == 401
    assert out["bearer"] == 200
    assert out["html_none"] == 401
    assert out["header"]["positions"][0]["qty"] == 1


def test_status_json_shows_position_automation_kill_switch_and_last_alerts():
    doc = _filled_long(make_rig())["json"]
    (pos,) = doc["positions"]
    assert pos["instrument"] == "ES" and pos["qty"] == 1 and pos["avg_price"] == "5500.00"
    assert doc["automation"]["webhook"] is True
    assert doc["kill_switch"]["latched"] is False
    assert [a["code"] for a in doc["alerts"]["last"] if a["action"] == "buy"] == ["ok"]
    assert doc["alerts"]["counts"]["ok"] == 1
    assert doc["alerts"]["counts"]["unauthorized"] == 2  # refused status reads are journaled too


def test_status_html_is_a_small_page_that_escapes_sender_text():
    page = _filled_long(make_rig())["html"]
    assert "width=device-width" in page and "flat" not in page.split("Limits")[0].split("Positions")[1]
    assert "<script>" not in page
    assert "+1" in page  # the long position


def test_status_token_is_derived_from_the_secret_and_is_not_the_secret():
    t = status_token(Secret(SECRET))
    assert len(t) == 32 and SECRET not in t and t == status_token(Secret(SECRET))
    assert t != status_token(Secret(SECRET + "x"))
