"""Synthetic but plausible planning instances, for tests, the benchmark and the evaluation harness.

Prices 0.05-0.35 £/kWh and intensities 30-250 gCO2/kWh with a daily shape per zone; jobs of
50-2000 kW running 1-12 h inside windows of 4-24 h; site capacity sized to the fleet's load.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from services.planner.optimiser.model import Battery, Grid, Job, Problem, Site


def daily_signals(rng: np.random.Generator, zones: tuple[str, ...], n_slots: int,
                  slot_hours: float) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Price (£/kWh) and carbon (g/kWh) per zone: an evening price peak, a midday solar dip in
    intensity, a per-zone level and noise."""
    hours = (np.arange(n_slots) * slot_hours) % 24.0
    evening = np.exp(-0.5 * ((hours - 18.0) / 2.0) ** 2)
    night = np.exp(-0.5 * ((hours - 3.5) / 2.5) ** 2)
    solar = np.exp(-0.5 * ((hours - 13.0) / 3.0) ** 2)
    price: dict[str, list[float]] = {}
    carbon: dict[str, list[float]] = {}
    for zone in zones:
        level = rng.uniform(0.10, 0.20)
        p = level + 0.14 * evening - 0.06 * night + rng.normal(0.0, 0.02, n_slots)
        price[zone] = np.clip(p, 0.05, 0.35).round(4).tolist()
        base = rng.uniform(80.0, 220.0)
        wind = rng.uniform(-40.0, 40.0) * np.sin(2 * np.pi * hours / 24.0 + rng.uniform(0, 6.3))
        c = base - rng.uniform(20.0, 90.0) * solar + wind + rng.normal(0.0, 10.0, n_slots)
        carbon[zone] = np.clip(c, 30.0, 250.0).round(1).tolist()
    return price, carbon


def random_problem(seed: int, n_jobs: int = 20, n_sites: int = 3, n_slots: int = 48,
                   slot_hours: float = 0.5, n_zones: int | None = None,
                   carbon_price_gbp_per_t: float = 80.0, load_factor: float = 0.5,
                   non_interruptible_share: float = 0.3, non_migratable_share: float = 0.2,
                   battery_share: float = 0.5, offered: bool = True,
                   start: datetime = datetime(2023, 6, 1)) -> Problem:
    """A random instance. ``load_factor`` is the fleet's mean IT load over the sites' capacity."""
    rng = np.random.default_rng(seed)
    n_zones = n_zones or max(1, (n_sites + 1) // 2)
    zones = tuple(f"Z{z}" for z in range(n_zones))
    horizon_h = n_slots * slot_hours
    price, carbon = daily_signals(rng, zones, n_slots, slot_hours)

    jobs: list[Job] = []
    homes = [f"S{k}" for k in range(n_sites)]
    for i in range(n_jobs):
        power = float(rng.uniform(50.0, 2000.0))
        hours = float(rng.uniform(1.0, min(12.0, horizon_h - 1.0)))
        win_h = min(horizon_h, max(float(rng.uniform(4.0, 24.0)), hours + slot_hours * 2))
        win = max(1, int(round(win_h / slot_hours)))
        earliest = int(rng.integers(0, n_slots - win + 1))
        jobs.append(Job(
            job_id=f"J{i:04d}", energy_kwh=round(power * hours, 1), power_kw=round(power, 1),
            earliest_slot=earliest, deadline_slot=earliest + win,
            home_site=homes[int(rng.integers(0, n_sites))],
            interruptible=bool(rng.random() >= non_interruptible_share),
            migratable=bool(rng.random() >= non_migratable_share),
            migration_kwh=round(power * float(rng.uniform(0.05, 0.3)), 1),
            critical=bool(rng.random() < 0.05)))

    mean_load = sum(j.energy_kwh for j in jobs) / horizon_h
    per_site = max(2000.0, mean_load / max(load_factor, 1e-6) / n_sites)
    sites: list[Site] = []
    for k in range(n_sites):
        cap = round(per_site * float(rng.uniform(0.7, 1.3)), 0)
        cap = max(cap, 2000.0)
        bat = None
        if rng.random() < battery_share:
            p = round(0.1 * cap, 0)
            bat = Battery(power_kw=p, energy_kwh=2 * p, soc_kwh=p, reserve_kwh=0.2 * p,
                          efficiency=0.9)
        sites.append(Site(site_id=homes[k], zone=zones[k % n_zones], capacity_kw=cap,
                          pue=round(float(rng.uniform(1.1, 1.5)), 2), battery=bat))

    offered_kw = None
    if offered:
        offered_kw = {}
        for zone in zones:
            full = sum(s.capacity_kw * s.pue + (s.battery.power_kw if s.battery else 0.0)
                       for s in sites if s.zone == zone)
            shape = rng.uniform(0.6, 1.0) - 0.15 * np.cos(
                2 * np.pi * (np.arange(n_slots) * slot_hours - 18.0) / 24.0)
            offered_kw[zone] = np.clip(shape, 0.3, 1.0).__mul__(full).round(0).tolist()
    grid = Grid(zones=zones, slot_hours=slot_hours, start=start, price=price, carbon=carbon,
                offered_kw=offered_kw)
    return Problem(jobs=tuple(jobs), sites=tuple(sites), grid=grid,
                   carbon_price_gbp_per_t=carbon_price_gbp_per_t)
