"""The terminal's webhook toggle: starts and stops the TradingView receiver on the shared loop.

Qt-free so it can be tested without a window; the main window's Trading menu calls :meth:`start`
and :meth:`stop` and shows :attr:`status`. Alerts trade the terminal's own account, so they pass
the same kill switch and risk manager as the DOM and the rules. The secret comes from
``TAPEFLOW_WEBHOOK_SECRET`` or the ``[webhook]`` table of the user's ``trading.toml``; without one
the server refuses to start and says where to put it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tapeflow.core.instruments import feed_contract
from tapeflow.errors import TapeflowError
from tapeflow.trading.account import Account

if TYPE_CHECKING:  # aiohttp loads only when the user switches the server on
    from tapeflow.webhook.server import WebhookServer


GUI_HINT = "to trade it here, open a {root} feed in the terminal (or run `tapeflow webhook --instrument {root}`)"
"""What the 422 for an instrument the terminal does not trade tells the sender."""


class WebhookControl:
    """On/off switch and one-line status for the webhook server of one account."""

    def __init__(
        self, account: Account, settings_file: Path | None, instruments: set[str], feed_symbols: Sequence[str] = (),
        *, feeds: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """``instruments``: the roots the terminal trades; ``feed_symbols``: its feed's symbols, so an
        alert naming a month (``ESH7``) is checked against the month the feed carries, not any month.
        ``feeds`` (root -> its feed's symbols), when given, says both for a terminal of several
        instruments: each root trades the month of its own feed."""
        self.account = account
        self.settings_file = settings_file
        if feeds is not None:
            self.instruments = {feed_contract(root, list(symbols)) for root, symbols in feeds.items()}
        else:
            self.instruments = {feed_contract(root, list(feed_symbols)) for root in instruments}
        self.server: WebhookServer | None = None
        self.error = ""

    @property
    def running(self) -> bool:
        return self.server is not None

    @property
    def status(self) -> str:
        if self.server is None:
            return f"webhook off{': ' + self.error if self.error else ''}"
        n = sum(self.server.counts.values())
        return f"webhook on {self.server.url}/webhook · {n} alerts"

    async def start(self) -> bool:
        """Start listening; False (with :attr:`error` set) if settings or the port say no."""
        from tapeflow.webhook.server import WebhookServer
        from tapeflow.webhook.settings import (
            WebhookSettings,
            split_settings_file,
            webhook_settings_from_dict,
            with_env_secret,
        )

        if self.server is not None:
            return True
        try:
            settings = WebhookSettings()
            if self.settings_file is not None and self.settings_file.is_file():
                _, table = split_settings_file(self.settings_file)
                settings = webhook_settings_from_dict(table, str(self.settings_file))
            server = WebhookServer(
                self.account, with_env_secret(settings), journal=self.account.journal, instruments=self.instruments,
                hint=GUI_HINT,
            )
            await server.start()
        except TapeflowError as e:
            self.error = str(e)
            return False
        self.server, self.error = server, ""
        return True

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None
