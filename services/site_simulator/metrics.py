"""site-simulator's domain metrics: each site's load, grid import, battery power and state of
charge, read from the meter readings it publishes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from contracts.envelope import Envelope
from contracts.events import MeterReadingRecorded
from services.common.runner import Observer, Out


def observer(registry: CollectorRegistry) -> Observer:
    """Create the metrics on `registry`; the returned function updates them per reading."""
    load = Gauge("site_load_kw", "Facility load over the site's last metered interval",
                 ["site"], registry=registry)
    grid = Gauge("site_grid_import_kw", "Grid import over the site's last metered interval "
                 "(negative when exporting)", ["site"], registry=registry)
    battery = Gauge("site_battery_discharge_kw", "Battery discharge over the site's last "
                    "metered interval (negative when charging)", ["site"], registry=registry)
    soc = Gauge("site_battery_state_of_charge_ratio", "Battery state of charge (0-1) at the end "
                "of the site's last metered interval", ["site"], registry=registry)
    imported = Counter("site_energy_imported_kwh_total", "Energy imported from the grid, "
                       "summed over the metered intervals (exports not subtracted)", ["site"],
                       registry=registry)

    def observe(out: Out) -> None:
        if not isinstance(out.value, Envelope):
            return
        r = out.value.payload
        if not isinstance(r, MeterReadingRecorded):
            return
        hours = (r.end - r.start).total_seconds() / 3600
        load.labels(r.site_id).set(r.load_kwh / hours)
        grid.labels(r.site_id).set(r.import_kwh / hours)
        battery.labels(r.site_id).set(r.battery_discharge_kwh / hours)
        if r.battery_soc_pct is not None:
            soc.labels(r.site_id).set(r.battery_soc_pct / 100)
        if r.import_kwh > 0:
            imported.labels(r.site_id).inc(r.import_kwh)

    return observe
