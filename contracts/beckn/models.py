"""Pydantic models of the Beckn v2.0.0-rc messages degflex exchanges.

Only the parts of the official schemas we use are modelled; every model serialises (by alias,
without None) to JSON that `contracts.beckn.conformance.validate_beckn` accepts. JSON-LD keys keep
their `beckn:`/`schema:` prefixes on the wire; Python names are snake_case.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.compute_energy.vocab import (
    ComputeEnergyWindow,
    FlexibilityAction,
    GridStressEvent,
    OrderLine,
    SettlementMetrics,
)

CORE_CONTEXT = (
    "https://raw.githubusercontent.com/beckn/protocol-specifications-v2/refs/tags/"
    "core-2.0.0-rc-eos-release/schema/core/v2/context.jsonld"
)
BECKN_VERSION = "2.0.0"
DOMAIN = "beckn.one:DEG:compute-energy:1.0"


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Action(StrEnum):
    DISCOVER = "discover"
    ON_DISCOVER = "on_discover"
    SELECT = "select"
    ON_SELECT = "on_select"
    INIT = "init"
    ON_INIT = "on_init"
    CONFIRM = "confirm"
    ON_CONFIRM = "on_confirm"
    UPDATE = "update"
    ON_UPDATE = "on_update"
    STATUS = "status"
    ON_STATUS = "on_status"


class Context(_M):
    """Beckn core 1.1.1 Context, as v2.0.0-rc's TransactionContext/DiscoveryContext extend it."""

    domain: str = DOMAIN
    action: Action
    version: str = BECKN_VERSION
    bap_id: str
    bap_uri: str
    bpp_id: str
    bpp_uri: str
    transaction_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    message_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    timestamp: AwareDatetime
    ttl: str = "PT30S"
    schema_context: tuple[str, ...] | None = None


class Descriptor(_M):
    type_: Literal["beckn:Descriptor"] = Field("beckn:Descriptor", alias="@type")
    name: str = Field(alias="schema:name")
    short_desc: str | None = Field(None, alias="beckn:shortDesc")


class TimePeriod(_M):
    type_: Literal["beckn:TimePeriod"] = Field("beckn:TimePeriod", alias="@type")
    start: AwareDatetime = Field(alias="schema:startDate")
    end: AwareDatetime = Field(alias="schema:endDate")


class Provider(_M):
    id: str = Field(alias="beckn:id")
    descriptor: Descriptor = Field(alias="beckn:descriptor")


class Item(_M):
    context: str = Field(CORE_CONTEXT, alias="@context")
    type_: Literal["beckn:Item"] = Field("beckn:Item", alias="@type")
    id: str = Field(alias="beckn:id")
    descriptor: Descriptor = Field(alias="beckn:descriptor")
    provider: Provider = Field(alias="beckn:provider")
    availability_window: tuple[TimePeriod, ...] = Field(alias="beckn:availabilityWindow")
    item_attributes: ComputeEnergyWindow = Field(alias="beckn:itemAttributes")


class Price(_M):
    currency: str = "GBP"
    value: float


class Offer(_M):
    context: str = Field(CORE_CONTEXT, alias="@context")
    type_: Literal["beckn:Offer"] = Field("beckn:Offer", alias="@type")
    id: str = Field(alias="beckn:id")
    descriptor: Descriptor = Field(alias="beckn:descriptor")
    provider: str = Field(alias="beckn:provider")
    items: tuple[str, ...] = Field(alias="beckn:items", min_length=1)
    price: Price | None = Field(None, alias="beckn:price")
    validity: TimePeriod | None = Field(None, alias="beckn:validity")


class Catalog(_M):
    context: str = Field(CORE_CONTEXT, alias="@context")
    type_: Literal["beckn:Catalog"] = Field("beckn:Catalog", alias="@type")
    id: str = Field(alias="beckn:id")
    descriptor: Descriptor = Field(alias="beckn:descriptor")
    provider_id: str = Field(alias="beckn:providerId")
    bpp_id: str = Field(alias="beckn:bppId")
    bpp_uri: str = Field(alias="beckn:bppUri")
    validity: TimePeriod = Field(alias="beckn:validity")
    items: tuple[Item, ...] = Field(alias="beckn:items")
    offers: tuple[Offer, ...] = Field(alias="beckn:offers")


class Buyer(_M):
    context: str = Field(CORE_CONTEXT, alias="@context")
    type_: Literal["beckn:Buyer"] = Field("beckn:Buyer", alias="@type")
    id: str = Field(alias="beckn:id")
    display_name: str | None = Field(None, alias="beckn:displayName")


class Quantity(_M):
    unit_text: str = Field("kW", alias="unitText")
    unit_code: str = Field("KWT", alias="unitCode")
    unit_quantity: float = Field(alias="unitQuantity")


class OrderItem(_M):
    line_id: str = Field(alias="beckn:lineId")
    ordered_item: str = Field(alias="beckn:orderedItem")
    accepted_offer: Offer | None = Field(None, alias="beckn:acceptedOffer")
    quantity: Quantity = Field(alias="beckn:quantity")
    attributes: OrderLine = Field(alias="beckn:orderItemAttributes")


class OrderStatus(StrEnum):
    CREATED = "CREATED"
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    INPROGRESS = "INPROGRESS"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"


OrderAttributes = Annotated[
    GridStressEvent | FlexibilityAction | SettlementMetrics, Field(discriminator="type_")
]


class Order(_M):
    context: str = Field(CORE_CONTEXT, alias="@context")
    type_: Literal["beckn:Order"] = Field("beckn:Order", alias="@type")
    id: str = Field(alias="beckn:id")
    status: OrderStatus = Field(alias="beckn:orderStatus")
    seller: str = Field(alias="beckn:seller")
    buyer: Buyer = Field(alias="beckn:buyer")
    items: tuple[OrderItem, ...] = Field(alias="beckn:orderItems", min_length=1)
    value: Price | None = Field(None, alias="beckn:orderValue")
    attributes: OrderAttributes | None = Field(None, alias="beckn:orderAttributes")


class DiscoverFilters(_M):
    type: Literal["jsonpath"] = "jsonpath"
    expression: str


class DiscoverMessage(_M):
    text_search: str | None = None
    filters: DiscoverFilters | None = None


class OnDiscoverMessage(_M):
    catalogs: tuple[Catalog, ...]


class OrderMessage(_M):
    order: Order


class Error(_M):
    code: str
    message: str


class BecknMessage(_M):
    """One Beckn message as it crosses Kafka: context, and a message body fitting its action."""

    context: Context
    message: OrderMessage | OnDiscoverMessage | DiscoverMessage
    error: Error | None = None

    @model_validator(mode="after")
    def _body_fits_action(self) -> BecknMessage:
        want = {Action.DISCOVER: DiscoverMessage, Action.ON_DISCOVER: OnDiscoverMessage}.get(
            self.context.action, OrderMessage)
        if not isinstance(self.message, want):
            raise ValueError(f"{self.context.action.value} must carry {want.__name__}")
        return self

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
