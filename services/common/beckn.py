"""Beckn plumbing without business rules: addressing, replies, and order copies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.beckn.models import (
    Action,
    BecknMessage,
    Context,
    DiscoverMessage,
    Error,
    OnDiscoverMessage,
    Order,
    OrderMessage,
)
from services.common.ids import stable_id


@dataclass(frozen=True)
class Parties:
    bap_id: str
    bap_uri: str
    bpp_id: str
    bpp_uri: str


def request(parties: Parties, action: Action, transaction_id: str, cause: str,
            at: datetime, message: OrderMessage | DiscoverMessage) -> BecknMessage:
    """A new BAP->BPP (or unsolicited BPP->BAP) message; its id derives from its cause."""
    ctx = Context(action=action, bap_id=parties.bap_id, bap_uri=parties.bap_uri,
                  bpp_id=parties.bpp_id, bpp_uri=parties.bpp_uri,
                  transaction_id=transaction_id,
                  message_id=stable_id(action.value, transaction_id, cause), timestamp=at)
    return BecknMessage(context=ctx, message=message)


def reply(to: BecknMessage, message: OrderMessage | OnDiscoverMessage,
          *, error: tuple[str, str] | None = None) -> BecknMessage:
    """The on_<action> callback to a request: same transaction, same message_id (Beckn pairs
    a callback with its request by message_id), event time of the request."""
    action = Action(f"on_{to.context.action.value}")
    ctx = to.context.model_copy(update={"action": action})
    err = None if error is None else Error(code=error[0], message=error[1])
    return BecknMessage(context=ctx, message=message, error=err)


def order_of(msg: BecknMessage) -> Order:
    if not isinstance(msg.message, OrderMessage):
        raise TypeError(f"{msg.context.action.value} carries no order")
    return msg.message.order
