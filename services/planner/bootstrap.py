"""Composition root of the planner."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.topics import consumed_by
from services.common.beckn import Parties
from services.common.metrics import stream_metrics
from services.common.runner import Runner
from services.planner.handlers import HANDLERS, PlannerState
from services.planner.metrics import observer
from services.planner.settings import PlannerSettings


def bootstrap(settings: PlannerSettings, *, consumer: AIOKafkaConsumer | None = None,
              producer: AIOKafkaProducer | None = None) -> Runner[PlannerState]:
    s = settings
    state = PlannerState(Parties(s.bap_id, s.bap_uri, s.bpp_id, s.bpp_uri), s.buyer_id,
                         s.buyer_name, s.carbon_price_gbp_per_tonne, mode=s.mode,
                         migration_h=s.migration_h, exact_up_to_parts=s.exact_up_to_parts)
    metrics = stream_metrics()
    return Runner(s, state, HANDLERS, consumed_by(s.service_name), metrics,
                  consumer=consumer, producer=producer,
                  observe=observer(metrics.registry))
