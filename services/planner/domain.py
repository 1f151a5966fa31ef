"""CompFlex's placement rule: each batch, whole, at the feasible site where it is cheapest.

Simple and correct (the optimiser is its own issue): batches in order of earliest start run
as early as they can; a batch with any non-migratable part may only run at its home site;
a site is feasible when the discovered windows of its zone cover the whole run with capacity
left for the batch, and the site has IT capacity for it. Among feasible sites the lowest
forecast cost + carbon price x emissions wins (ties: home site, then site id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.events import JobSubmitted, SiteRegistered


@dataclass(frozen=True)
class OfferedWindow:
    item_id: str
    zone: str
    start: datetime
    end: datetime
    price_gbp_per_kwh: float
    carbon_g_per_kwh: float
    capacity_kw: float


@dataclass(frozen=True)
class Segment:
    """The part of a job's run that falls in one window."""

    window: OfferedWindow
    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


@dataclass(frozen=True)
class Placement:
    job: JobSubmitted
    site: SiteRegistered
    start: datetime
    end: datetime
    segments: tuple[Segment, ...]
    score_gbp: float


@dataclass(frozen=True)
class Plan:
    placements: tuple[Placement, ...]
    unplaced: tuple[tuple[str, str], ...]


def _segments(windows: Sequence[OfferedWindow], zone: str, start: datetime,
              end: datetime) -> list[Segment] | None:
    """The zone's windows covering [start, end) without gaps, or None."""
    segs: list[Segment] = []
    t = start
    for w in sorted((w for w in windows if w.zone == zone), key=lambda w: w.start):
        if w.start <= t < w.end:
            seg_end = min(w.end, end)
            segs.append(Segment(w, t, seg_end))
            t = seg_end
            if t >= end:
                return segs
    return None


def _load_at(placements: Sequence[Placement], site_id: str, s: datetime, e: datetime) -> float:
    return sum(p.job.power_kw for p in placements
               if p.site.site_id == site_id and p.start < e and p.end > s)


def _window_load(placements: Sequence[Placement], item_id: str, s: datetime,
                 e: datetime) -> float:
    return sum(p.job.power_kw for p in placements for seg in p.segments
               if seg.window.item_id == item_id and seg.start < e and seg.end > s)


def plan_placements(jobs: Sequence[JobSubmitted], sites: Sequence[SiteRegistered],
                    windows: Sequence[OfferedWindow], carbon_price_gbp_per_t: float) -> Plan:
    placed: list[Placement] = []
    unplaced: list[tuple[str, str]] = []
    for job in sorted(jobs, key=lambda j: (j.earliest_start, j.job_id)):
        start = job.earliest_start
        end = start + timedelta(hours=job.duration_h)
        pinned = any(not p.migratable for p in job.parts)
        allowed = [s for s in sites if not pinned or s.site_id == job.home_site]
        best: Placement | None = None
        for site in sorted(allowed, key=lambda s: (s.site_id != job.home_site, s.site_id)):
            segs = _segments(windows, site.zone, start, end)
            if segs is None:
                continue
            if _load_at(placed, site.site_id, start, end) + job.power_kw > site.it_capacity_kw:
                continue
            if any(_window_load(placed, g.window.item_id, g.start, g.end) + job.power_kw
                   > g.window.capacity_kw for g in segs):
                continue
            score = sum(job.power_kw * g.hours * (g.window.price_gbp_per_kwh
                        + carbon_price_gbp_per_t * g.window.carbon_g_per_kwh / 1e6)
                        for g in segs)
            if best is None or score < best.score_gbp - 1e-9:
                best = Placement(job, site, start, end, tuple(segs), score)
        if best is None:
            why = "no site with windows and capacity for its whole run"
            if pinned and job.home_site is None:
                why = "has non-migratable parts but no home site"
            unplaced.append((job.job_id, why))
        else:
            placed.append(best)
    return Plan(tuple(placed), tuple(unplaced))
