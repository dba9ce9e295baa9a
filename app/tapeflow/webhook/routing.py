"""From a validated alert to the account: the only place the webhook touches trading.

Every order goes through :meth:`Account.submit` (kill switch, then risk); exits use
:meth:`Account.flatten`, which submits through the same path. Preparation (symbol and price
checks) is kept apart from execution so that a refused payload is never remembered as executed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from tapeflow.core.events import Side
from tapeflow.core.instruments import Instrument, parse_symbol
from tapeflow.errors import TapeflowError
from tapeflow.trading.account import Account, SubmitResult
from tapeflow.trading.orders import Bracket, OrderRequest, OrderType, Source
from tapeflow.webhook.outcome import Code, Reply
from tapeflow.webhook.schema import Action, Alert, PayloadError

TAG_LIMIT = 120


@dataclass(frozen=True, slots=True)
class Prepared:
    """An alert resolved against our instruments: the root and, for buy/sell, the order."""

    alert: Alert
    root: str = ""
    request: OrderRequest | None = None


def prepare(alert: Alert, instruments: Collection[str] = ()) -> Prepared:
    """Map the symbol to an instrument we trade and build the order; raises :class:`PayloadError`."""
    if alert.action == Action.KILL:
        return Prepared(alert)
    try:
        inst = parse_symbol(alert.symbol).instrument
    except TapeflowError as e:
        raise PayloadError(Code.UNKNOWN_SYMBOL, str(e), "symbol") from None
    if instruments and inst.root not in instruments:
        traded = ", ".join(sorted(instruments))
        why = f"{inst.root} is not traded here (this account trades {traded})"
        raise PayloadError(Code.UNKNOWN_SYMBOL, why, "symbol")
    if alert.action not in (Action.BUY, Action.SELL):
        return Prepared(alert, inst.root)
    limit_price, stop_price = _prices(alert, inst)
    bracket = None
    if alert.stop_ticks is not None or alert.target_ticks is not None:
        bracket = Bracket(stop_ticks=alert.stop_ticks, target_ticks=alert.target_ticks)
    request = OrderRequest(
        instrument=inst.root,
        side=Side.BUY if alert.action == Action.BUY else Side.SELL,
        qty=alert.quantity or 0,
        type=alert.order_type,
        limit_price=limit_price,
        stop_price=stop_price,
        source=Source.WEBHOOK,
        bracket=bracket,
        reduce_only=alert.reduce_only,
        tag=_tag(alert),
    )
    return Prepared(alert, inst.root, request)


def execute(account: Account, prepared: Prepared, *, by: str) -> Reply:
    """Carry out a prepared alert; ``by`` names the sender for the kill switch record."""
    alert = prepared.alert
    if alert.action == Action.KILL:
        account.kill(by=by, reason=alert.reason or "kill from webhook")
        ks = account.kill_switch
        why = "" if ks.persisted else f"latched and flattened, but the latch is in memory only: {ks.save_error}"
        return Reply(ok=True, code=Code.OK, kill_switch_latched=True, reason=why)
    if prepared.request is not None:
        return _reply(account.submit(prepared.request))
    if alert.action == Action.CANCEL:
        ids = tuple(
            o.id
            for o in account.open_orders()
            if o.instrument == prepared.root and o.request.source == Source.WEBHOOK
        )
        for oid in ids:
            account.cancel(oid, f"cancelled by webhook {alert.alert_id or ''}".strip())
        return Reply(ok=True, code=Code.OK, order_ids=ids, reason="" if ids else "no working webhook orders")
    # exit / flatten: cancel the symbol's working orders and close its position at market
    results = account.flatten(prepared.root, f"webhook exit {alert.alert_id or ''}".strip())
    ids = tuple(r.order_id for r in results if r.order_id is not None)
    refused = [r for r in results if not r.ok]
    if refused:
        return Reply(ok=False, code=Code.RISK_REJECTED, order_ids=ids, reason=refused[0].reason)
    return Reply(ok=True, code=Code.OK, order_ids=ids, reason="" if results else "already flat")


def _reply(result: SubmitResult) -> Reply:
    if result.ok:
        return Reply(ok=True, code=Code.OK, order_id=result.order_id)
    if result.rule == "kill_switch":
        code = Code.KILL_SWITCH
    elif result.rule == "invalid":
        code = Code.INVALID_ORDER
    elif result.rule == "journal":
        code = Code.JOURNAL_UNAVAILABLE
    else:
        code = Code.RISK_REJECTED
    return Reply(ok=False, code=code, order_id=result.order_id, rule=result.rule, reason=result.reason)


def _prices(alert: Alert, inst: Instrument) -> tuple[int | None, int | None]:
    """(limit, stop) in ticks for the order type; raises naming the missing or off-grid field."""
    t = alert.order_type
    limit = stop = None
    if t in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        limit = _ticks(alert.price, inst, "price", t)
    if t == OrderType.STOP:
        stop = _ticks(alert.stop_price if alert.stop_price is not None else alert.price, inst, "stop_price", t)
    elif t == OrderType.STOP_LIMIT:
        stop = _ticks(alert.stop_price, inst, "stop_price", t)
    return limit, stop


def _ticks(price: Decimal | None, inst: Instrument, field: str, order_type: OrderType) -> int:
    if price is None:
        raise PayloadError(Code.MISSING_FIELD, f"required for a {order_type} order", field)
    if not price.is_finite() or price <= 0:
        raise PayloadError(Code.INVALID_FIELD, f"must be a positive price, got {price}", field)
    try:
        return inst.to_ticks(price)
    except TapeflowError as e:
        raise PayloadError(Code.INVALID_FIELD, str(e), field) from None


def _tag(alert: Alert) -> str:
    parts = ["webhook"] + [p for p in (alert.strategy, alert.alert_id) if p]
    return ":".join(parts)[:TAG_LIMIT]
