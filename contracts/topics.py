"""The topic catalogue: every topic, its key, payload, single writer and consumers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    types: tuple[str, ...]
    owner: str
    consumers: tuple[str, ...]
    partitions: int = 3
    config: tuple[tuple[str, str], ...] = ()
    """Topic-level broker settings applied at creation (e.g. the audit log's retention)."""

    @property
    def payload(self) -> str:
        """The record types allowed on the topic, as one readable string."""
        return " | ".join(self.types)


CLOCK = Topic("sim.clock.v1", "day", ("sim.clock.advanced",), "scenario-replay",
              ("grid-signal", "planner", "site-simulator"), 1)
SITES = Topic("compflex.sites.v1", "site_id", ("compflex.site.registered",), "scenario-replay",
              ("planner", "load-shifter", "site-simulator"), 1)
JOBS = Topic("compflex.jobs.v1", "job_id", ("compflex.job.submitted",), "scenario-replay",
             ("planner",), 1)
GRID_SIGNALS = Topic("grid.signals.v1", "zone", ("grid.signal.published",), "grid-signal",
                     ("settlement", "audit"))
BECKN_ORDERS = Topic("beckn.orders.v1", "transaction_id",
                     ("beckn.discover", "beckn.select", "beckn.init", "beckn.confirm"), "planner", ("grid-signal", "audit"))
BECKN_UPDATES = Topic("beckn.updates.v1", "transaction_id", ("beckn.update",), "load-shifter",
                      ("grid-signal",))
BECKN_CALLBACKS = Topic("beckn.callbacks.v1", "transaction_id",
                        ("beckn.on_discover", "beckn.on_select", "beckn.on_init",
                         "beckn.on_confirm", "beckn.on_update"),
                        "grid-signal", ("planner", "load-shifter", "metering-validator",
                                        "settlement", "audit"))
BECKN_STATUSES = Topic("beckn.statuses.v1", "transaction_id", ("beckn.on_status",), "settlement",
                       ("planner", "audit"))
PLACEMENTS = Topic("compflex.placements.v1", "site_id", ("compflex.placement.scheduled",),
                   "planner", ("load-shifter", "site-simulator"))
COMMANDS = Topic("site.commands.v1", "site_id", ("site.command.issued",), "load-shifter",
                 ("site-simulator", "planner"))
RESPONSES = Topic("fulfilment.responses.v1", "site_id", ("fulfilment.response.dispatched",),
                  "load-shifter", ("settlement", "audit"))
READINGS = Topic("metering.readings.v1", "site_id",
                 ("metering.reading.recorded", "metering.day.closed"), "site-simulator",
                 ("metering-validator", "settlement", "audit"))
VERIFICATIONS = Topic("metering.verifications.v1", "site_id", ("metering.flexibility.verified",),
                      "metering-validator", ("settlement", "audit"))
STATEMENTS = Topic("settlement.statements.v1", "day",
                   ("settlement.site.settled", "settlement.statement.issued"),
                   "settlement", ("audit",), 1)
AUDIT_LOG = Topic("audit.log.v1", "order_id", ("audit.entry.appended",), "audit", (), 1,
                  (("retention.ms", "-1"), ("retention.bytes", "-1"), ("cleanup.policy", "delete")))

CATALOGUE: tuple[Topic, ...] = (
    CLOCK, SITES, JOBS, GRID_SIGNALS, BECKN_ORDERS, BECKN_UPDATES, BECKN_CALLBACKS,
    BECKN_STATUSES, PLACEMENTS, COMMANDS, RESPONSES, READINGS, VERIFICATIONS, STATEMENTS,
    AUDIT_LOG,
)

SERVICES: tuple[str, ...] = (
    "grid-signal", "planner", "load-shifter", "metering-validator", "settlement",
    "site-simulator", "audit",
)

OPTIONAL_SERVICES: tuple[str, ...] = ("site-agent",)
"""Run per site beside the seven (not in the demo or the default deployment); they read the
catalogue's topics but are not listed as its consumers, and write only their dead letters."""


def dead_letter_topic(service: str) -> str:
    return f"dlq.{service}"


def consumed_by(service: str) -> tuple[Topic, ...]:
    return tuple(t for t in CATALOGUE if service in t.consumers)


def owned_by(service: str) -> tuple[Topic, ...]:
    return tuple(t for t in CATALOGUE if t.owner == service)


def by_name(name: str) -> Topic:
    for t in CATALOGUE:
        if t.name == name:
            return t
    raise KeyError(name)
