"""From a validated alert to the account: the semantics step, and the only place the webhook trades.

Preparation resolves the contract and turns the alert into at most one order against the
account's position *now* (what a flat, a target position, an add or a reverse mean), converting
prices and bracket distances to ticks exactly; anything it cannot do safely raises
:class:`PayloadError` naming the field, so a refused alert is never remembered as executed.
Execution then goes through :meth:`Account.submit` (kill switch, then risk) or
:meth:`Account.flatten`, :meth:`Account.cancel` and :meth:`Account.modify`.

Rules that cannot surprise:

* a strategy that says it is flat (``sentiment``/``market_position`` flat) closes the position the
  order closes and never opens the other side;
* a target position (``position_size``) makes the account hold exactly that many contracts;
* a ``sentiment`` against the order's direction (a sell while ``long``) only reduces;
* a bracket rides only on an order that opens contracts, and every distance is a whole number of
  ticks: points, dollars and prices that are not are refused, never rounded.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from tapeflow.core.events import Side
from tapeflow.core.instruments import (
    INSTRUMENTS,
    ContractSymbol,
    Instrument,
    contract_month,
    feed_contract,
    instrument,
    month_label,
    parse_symbol,
)
from tapeflow.errors import TapeflowError
from tapeflow.trading.account import Account, SubmitResult
from tapeflow.trading.orders import Bracket, OrderRequest, OrderType, Source
from tapeflow.webhook.outcome import Code, Reply
from tapeflow.webhook.schema import MAX_TICKS, Action, Alert, Level, PayloadError, Unit, invalid
from tapeflow.webhook.schema import Side as Position

TAG_LIMIT = 120
CONFIGURE_HINT = (
    "to trade it, start `tapeflow webhook` with --instrument {root} (repeatable) or add \"{root}\" to"
    " `instruments` in the [webhook] table of trading.toml; it needs a {root} feed (a micro may use its"
    " E-mini's: MES the ES feed)"
)
"""How to configure an instrument nobody configured, told in the 422 (``{root}`` is filled in)."""
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_NS_PER_DAY = 86_400 * 1_000_000_000
_OPENING = (Action.BUY, Action.SELL, Action.ADD, Action.REVERSE)
_FROM_ENTRY = (Unit.PRICE, Unit.PERCENT)  # need the entry price to become a distance


@dataclass(frozen=True, slots=True)
class Prepared:
    """An alert resolved against our instruments and the position: the root and, for an order,
    the request; ``skip`` says why nothing needs to be done."""

    alert: Alert
    root: str = ""
    request: OrderRequest | None = None
    skip: str = ""


def prepare(
    alert: Alert, instruments: Collection[str] = (), account: Account | None = None, *, hint: str = CONFIGURE_HINT
) -> Prepared:
    """Resolve the contract and build the order; raises :class:`PayloadError`.

    ``instruments``: roots (``ES``: the feed carries the front month) or contracts (``ESU4``) this
    account trades; empty trades every root's front month. ``hint`` says how to configure a root
    that is not among them (``{root}`` filled in)."""
    if alert.action == Action.KILL:
        return Prepared(alert)
    today = _tape_date(account)
    inst = _contract(alert.symbol, instruments, today, hint)
    position = _position(account, inst.root)
    if alert.action == Action.BREAKEVEN and position == 0:
        raise PayloadError(Code.NO_POSITION, f"no {inst.root} position to move to breakeven", "action")
    if alert.action not in _OPENING:
        return Prepared(alert, inst.root)
    plan = _plan(alert, position, inst.root)
    if isinstance(plan, str):
        return Prepared(alert, inst.root, skip=plan)
    side, qty, opening = plan
    if alert.reduce_only:
        opening = 0  # it can only close, so nothing for a bracket to protect
    limit_price, stop_price = _prices(alert, inst)
    bracket = None
    if opening > 0 and (alert.stop is not None or alert.target is not None):
        entry = limit_price if limit_price is not None else stop_price
        at_prices = any(leg is not None and leg.unit in _FROM_ENTRY for leg in (alert.stop, alert.target))
        if entry is None and at_prices and alert.ref_price is not None:
            entry = _to_ticks(alert.ref_price, inst, _ref_field(alert))
        bracket = Bracket(
            stop_ticks=_distance(alert.stop, inst, side, entry, opening, stop=True),
            target_ticks=_distance(alert.target, inst, side, entry, opening, stop=False),
        )
    request = OrderRequest(
        instrument=inst.root,
        side=Side.BUY if side > 0 else Side.SELL,
        qty=qty,
        type=alert.order_type,
        limit_price=limit_price,
        stop_price=stop_price,
        source=Source.WEBHOOK,
        bracket=bracket,
        reduce_only=opening == 0,
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
    if prepared.skip:
        return Reply(ok=True, code=Code.OK, reason=prepared.skip)
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
    if alert.action == Action.BREAKEVEN:
        return _breakeven(account, prepared.root, alert)
    # exit / flatten: cancel the symbol's working orders and close its position at market
    results = account.flatten(prepared.root, f"webhook exit {alert.alert_id or ''}".strip())
    ids = tuple(r.order_id for r in results if r.order_id is not None)
    refused = [r for r in results if not r.ok]
    if refused:
        return Reply(ok=False, code=Code.RISK_REJECTED, order_ids=ids, reason=refused[0].reason)
    return Reply(ok=True, code=Code.OK, order_ids=ids, reason="" if results else "already flat")


# -- contracts -------------------------------------------------------------------------------------


def _tape_date(account: Account | None) -> date:
    """The tape's date (replays trade their own months), or today before the first event."""
    if account is None or not account.clock_ns:
        return datetime.now(UTC).date()
    return date.fromordinal(_EPOCH_ORDINAL + account.clock_ns // _NS_PER_DAY)


def traded_contracts(roots: Iterable[str], feed_symbols: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Root -> the contract a receiver trades it as, from its feeds (feed root -> the feed's symbols).

    A root trades its own feed's month (``ESZ6``); a micro without a feed of its own trades its
    E-mini's month under its own root (``MESZ6`` on an ``ESZ6`` feed), since the paper broker fills
    it on that tape; a feed that names no month gives the bare root (front month). A root with no
    feed to fill on is a user error saying which feed to add."""
    out: dict[str, str] = {}
    for root in sorted(set(roots)):
        inst = INSTRUMENTS.get(root)
        if inst is None:
            raise TapeflowError(f"unknown instrument {root!r} (known: {', '.join(INSTRUMENTS)})")
        parent = inst.tape_of
        if root in feed_symbols:
            out[root] = feed_contract(root, list(feed_symbols[root]))
        elif parent is not None and parent in feed_symbols:
            contract = feed_contract(parent, list(feed_symbols[parent]))
            out[root] = root + contract[len(parent):]
        else:
            either = f" or an {parent} feed (--feed 'sim://rth?symbol={parent}')" if parent else ""
            raise TapeflowError(
                f"{root} has no feed to fill on: add --feed 'sim://rth?symbol={root}' (or a file of {root}){either}"
            )
    return out


def _contract(symbol: str, instruments: Collection[str], today: date, hint: str = CONFIGURE_HINT) -> Instrument:
    """The instrument of an alert's symbol, if this account trades the month it names."""
    try:
        sym = parse_symbol(symbol, today)
    except TapeflowError as e:
        raise PayloadError(Code.UNKNOWN_SYMBOL, str(e), "symbol") from None
    root = sym.instrument.root
    carried = _carried(frozenset(instruments), today)
    if instruments and root not in carried:
        traded = ", ".join(sorted(carried))
        why = f"{root} is not traded here (this receiver trades {traded}); {hint.format(root=root)}"
        raise PayloadError(Code.UNKNOWN_SYMBOL, why, "symbol")
    if sym.month is None and (sym.continuous_rank or 1) == 1:
        return sym.instrument  # ES1!, a bare root: whatever front month the feed carries
    feed = carried.get(root, ContractSymbol(sym.instrument, continuous_rank=1))
    wanted, have = contract_month(sym, today), contract_month(feed, today)
    if wanted != have:
        why = (
            f"{symbol} is {month_label(root, *wanted)} but the feed carries {month_label(root, *have)};"
            f" send {root}1! or {month_label(root, *have).split()[0]}, or start the server on that month's feed"
        )
        raise PayloadError(Code.WRONG_CONTRACT, why, "symbol")
    return sym.instrument


@functools.lru_cache(maxsize=64)
def _carried(instruments: frozenset[str], today: date) -> dict[str, ContractSymbol]:
    """Root -> the contract the account trades (parsed once per day and instrument set); an entry
    we cannot read trades nothing."""
    carried: dict[str, ContractSymbol] = {}
    for entry in sorted(instruments):
        try:
            c = parse_symbol(entry, today)
        except TapeflowError:
            continue
        carried.setdefault(c.instrument.root, c)
    return carried


def _position(account: Account | None, root: str) -> int:
    if account is None:
        return 0
    pos = account.ledger.positions.get(root)
    return pos.qty if pos is not None else 0


# -- semantics -------------------------------------------------------------------------------------


def _plan(alert: Alert, p: int, root: str) -> tuple[int, int, int] | str:
    """(side +1/-1, quantity, contracts it opens) for the position ``p`` now, or why to do nothing."""
    q = alert.quantity or 0
    if alert.action in (Action.ADD, Action.REVERSE):
        if p == 0:
            raise PayloadError(Code.NO_POSITION, f"{alert.action} needs an open {root} position; it is flat", "action")
        if alert.action == Action.ADD:
            return _sign(p), q, q
        new = q or abs(p)
        return -_sign(p), abs(p) + new, new
    s = 1 if alert.action == Action.BUY else -1
    if alert.target_position is not None:
        t = alert.target_position
        delta = t - p
        if delta == 0:
            return f"already at the strategy's position of {t}"
        side = _sign(delta)
        opening = abs(t) - max(0, p * _sign(t)) if side == _sign(t) else 0
        return side, abs(delta), opening
    if alert.position == Position.FLAT:
        if p * s >= 0:
            return f"the strategy is flat and a {alert.action} closes no position (position {p}): nothing to do"
        return s, abs(p), 0
    if alert.position is not None and (alert.position == Position.LONG) != (s > 0):
        if p * s >= 0:
            return f"a {alert.action} while the strategy is {alert.position} only reduces; position {p}: nothing to do"
        return s, min(q, abs(p)), 0
    if p * s > 0 and not alert.allow_add:
        return f"already {'long' if p > 0 else 'short'} {abs(p)} and adding is off (pyramid / duplicate_position_allow)"
    if p * s < 0 and alert.reverse_on_opposite:
        return s, abs(p) + q, q
    return s, q, q if p * s >= 0 else max(0, q - abs(p))


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


# -- prices and distances --------------------------------------------------------------------------


def _prices(alert: Alert, inst: Instrument) -> tuple[int | None, int | None]:
    """(limit, stop) in ticks for the order type; raises naming the missing or off-grid field."""
    t = alert.order_type
    limit = stop = None
    if t in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        limit = _required_ticks(alert.price, inst, _field(alert, "price"), t)
    if t == OrderType.STOP:
        trigger = alert.stop_price if alert.stop_price is not None else alert.price
        stop = _required_ticks(trigger, inst, _field(alert, "stop_price"), t)
    elif t == OrderType.STOP_LIMIT:
        stop = _required_ticks(alert.stop_price, inst, _field(alert, "stop_price"), t)
    return limit, stop


_FIELD_NAMES = {
    "traderspost": {"price": "limitPrice", "stop_price": "stopPrice", "ref": "signalPrice"},
    "crosstrade": {"price": "limit_price", "stop_price": "stop_price"},
    "pickmytrade": {"price": "limit_price", "ref": "price"},
}


def _field(alert: Alert, name: str) -> str:
    """The name the user wrote for one of our price fields."""
    return _FIELD_NAMES.get(alert.format, {}).get(name, name)


def _ref_field(alert: Alert) -> str:
    return _field(alert, "ref") if alert.format in _FIELD_NAMES else "price"


def _required_ticks(price: Decimal | None, inst: Instrument, field: str, order_type: OrderType) -> int:
    if price is None:
        raise PayloadError(Code.MISSING_FIELD, f"required for a {order_type} order", field)
    return _to_ticks(price, inst, field)


def _to_ticks(price: Decimal, inst: Instrument, field: str) -> int:
    try:
        return inst.to_ticks(price)
    except TapeflowError as e:
        raise invalid(field, f"{e}; send a price on the tick grid") from None


def _distance(
    level: Level | None, inst: Instrument, side: int, entry: int | None, qty: int, *, stop: bool
) -> int | None:
    """A stop (``stop``) or target distance in whole ticks from the entry, exactly."""
    if level is None:
        return None
    v, f = level.value, level.field
    if level.unit == Unit.TICKS:
        ticks = v
        fix = "a whole number of ticks"
    elif level.unit == Unit.POINTS:
        ticks = v / inst.tick_size
        fix = f"a multiple of the {inst.root} tick {inst.tick_size} points"
    elif level.unit == Unit.DOLLARS:
        ticks = v / (inst.tick_value * qty)
        fix = f"a multiple of ${inst.tick_value * qty} (one {inst.root} tick of ${inst.tick_value} x {qty} contracts)"
    elif entry is None:
        why = f"a {level.unit} needs the entry's price: use a limit order, add the alert's price"
        raise invalid(f, f"{why} (e.g. {{{{close}}}}), or give the distance in ticks or points")
    elif level.unit == Unit.PERCENT:
        ticks = entry * v / 100  # a percent of the entry price, in ticks of it
        fix = f"a distance in points (it is {ticks * inst.tick_size:f} points from {inst.format_price(entry)})"
    else:
        at = _to_ticks(v, inst, f)
        ticks = Decimal((entry - at) * side if stop else (at - entry) * side)
        if ticks <= 0:
            where = ("below" if side > 0 else "above") if stop else ("above" if side > 0 else "below")
            what = "stop" if stop else "target"
            raise invalid(f, f"a {what} at {v} must be {where} the entry {inst.format_price(entry)}")
        fix = "a price on the tick grid"
    if ticks != ticks.to_integral_value():
        raise invalid(f, f"{v} is not a whole number of ticks ({ticks:f}); send {fix}")
    if not 0 < ticks <= MAX_TICKS:
        raise invalid(f, f"must be 1 to {MAX_TICKS} ticks from the entry, got {ticks:f}")
    return int(ticks)


# -- breakeven -------------------------------------------------------------------------------------


def _breakeven(account: Account, root: str, alert: Alert) -> Reply:
    """Move the position's working stops to its average entry (rounded to the side that cannot
    lose), or place one there for the whole position if none is working."""
    pos = account.ledger.positions[root]
    avg = pos.avg_price_ticks
    if avg is None or pos.qty == 0:
        return Reply(ok=True, code=Code.OK, reason="flat: no stop to move")
    be = math.ceil(avg) if pos.qty > 0 else math.floor(avg)
    stops = [
        o for o in account.open_orders()
        if o.instrument == root and o.request.type == OrderType.STOP and o.request.reduce_only
    ]
    if not stops:
        request = OrderRequest(
            instrument=root,
            side=Side.SELL if pos.qty > 0 else Side.BUY,
            qty=abs(pos.qty),
            type=OrderType.STOP,
            stop_price=be,
            source=Source.WEBHOOK,
            reduce_only=True,
            tag=_tag(alert),
        )
        return _reply(account.submit(request))
    results = [account.modify(o.id, stop_price=be) for o in stops]
    refused = [r for r in results if not r.ok]
    ids = tuple(o.id for o in stops)
    if refused:
        return _reply(refused[0])
    return Reply(ok=True, code=Code.OK, order_ids=ids, reason=f"stop moved to {instrument(root).format_price(be)}")


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


def _tag(alert: Alert) -> str:
    parts = ["webhook"] + [p for p in (alert.strategy, alert.alert_id) if p]
    return ":".join(parts)[:TAG_LIMIT]
