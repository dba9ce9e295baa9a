"""The secret: required to start, hidden in reprs, never in logs, replies or the journal."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from test_webhook_support import SECRET, alert, make_rig, post_json, post_text, run

from tapeflow.errors import TapeflowError
from tapeflow.store.journal import Journal
from tapeflow.trading.account import Account
from tapeflow.webhook.server import WebhookServer
from tapeflow.webhook.settings import (
    Secret,
    WebhookSettings,
    split_settings_file,
    webhook_settings_from_dict,
    with_env_secret,
)

WRONG = "a-wrong-secret-somebody-guessed"


def test_server_refuses_to_start_without_a_secret_or_with_a_short_one():
    with pytest.raises(TapeflowError, match="TAPEFLOW_WEBHOOK_SECRET"):
        WebhookServer(Account(), WebhookSettings())
    with pytest.raises(TapeflowError, match="too short"):
        WebhookServer(Account(), WebhookSettings(secret=Secret("short")))


def test_environment_secret_wins_over_the_file_and_reprs_hide_it(tmp_path: Path):
    f = tmp_path / "s.toml"
    f.write_text(f'[risk]\nmax_position = 2\n[webhook]\nsecret = "{SECRET}"\nport = 9000\n')
    trading, table = split_settings_file(f)
    s = webhook_settings_from_dict(table, str(f))
    assert s.port == 9000 and s.secret == Secret(SECRET) and trading == {"risk": {"max_position": 2}}
    env = with_env_secret(s, {"TAPEFLOW_WEBHOOK_SECRET": "from-the-environment-1"})
    assert env.secret.matches("from-the-environment-1")
    assert SECRET not in repr(s) and SECRET not in str(s.secret)


def test_settings_errors_name_the_key_and_never_the_secret():
    with pytest.raises(TapeflowError, match=r"\[webhook\] allow\[0\]"):
        webhook_settings_from_dict({"allow": ["not-an-address"]}, "s.toml")
    with pytest.raises(TapeflowError, match="tls_cert and tls_key"):
        webhook_settings_from_dict({"tls_cert": "a.pem"}, "s.toml")


def test_secret_never_appears_in_logs_replies_or_the_journal(tmp_path: Path, caplog):
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "journal.sqlite"
    journal = Journal(db)
    rig = make_rig()
    rig.server.journal = journal
    rig.account.journal = journal

    async def scenario(client):
        replies = [
            await post_json(client, alert()),
            await post_json(client, alert(secret=WRONG)),
            await post_json(client, alert(action=SECRET)),  # secret pasted in the wrong field
            await post_json(client, alert(strategy=SECRET, quantity=5, stop_ticks=None)),
            await post_text(client, f"secret={SECRET} action=kill time=2024-07-02T14:30:05Z id=k1"),
            await post_json(client, alert()),
        ]
        await client.get("/status", headers={"X-Tapeflow-Secret": SECRET})
        return replies

    replies = run(rig, scenario)
    assert [s for s, _ in replies] == [200, 401, 400, 422, 200, 423]
    journal.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert len(journal_rows(db)) == 6
    for needle in (SECRET, WRONG):
        assert needle.encode() not in stored
        assert needle not in caplog.text
        assert all(needle not in str(body) for _, body in replies)
        assert all(needle not in repr(r) for r in rig.server.history)


def journal_rows(db: Path) -> list[dict]:
    j = Journal(db)
    try:
        return j.rows("webhook_requests") if "webhook_requests" in j.db.table_names() else []
    finally:
        j.close()
