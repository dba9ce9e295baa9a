"""TradingView webhook receiver: alerts to orders through the account's risk manager.

Headless (imports core and trading only, never Qt). The public surface:
:class:`WebhookServer` (``start``/``stop``/``app``/``status_token``/``history``),
:class:`WebhookSettings` with :class:`Secret` and the settings-file helpers, the payload schema
(:class:`Alert`, :func:`decode_body`, :func:`to_alert` over every relay format) and the reply/record types.
See ``README.md`` in this folder for alert messages to paste into TradingView.
"""

from tapeflow.webhook.auth import status_token
from tapeflow.webhook.formats import to_alert
from tapeflow.webhook.outcome import JOURNAL_TABLE, Code, Reply, WebhookRequest
from tapeflow.webhook.schema import Action, Alert, PayloadError, decode_body
from tapeflow.webhook.settings import (
    SECRET_ENV,
    TRADINGVIEW_SENDERS,
    Secret,
    WebhookSettings,
    require_secret,
    split_settings_file,
    webhook_settings_from_dict,
    with_env_secret,
)


def __getattr__(name: str):
    """``WebhookServer`` and ``describe`` load aiohttp: import them only when asked for."""
    if name in ("WebhookServer", "describe"):
        from tapeflow.webhook import server

        return getattr(server, name)
    raise AttributeError(name)


__all__ = [
    "JOURNAL_TABLE",
    "SECRET_ENV",
    "TRADINGVIEW_SENDERS",
    "Action",
    "Alert",
    "Code",
    "PayloadError",
    "Reply",
    "Secret",
    "WebhookRequest",
    "WebhookServer",
    "WebhookSettings",
    "decode_body",
    "describe",
    "require_secret",
    "split_settings_file",
    "status_token",
    "to_alert",
    "webhook_settings_from_dict",
    "with_env_secret",
]
