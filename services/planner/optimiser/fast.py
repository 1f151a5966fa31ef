"""The fast planner: greedy placements, an LP per placement, and improving moves.

1. Greedy, from several job orders (commitments first, then jobs with no other site, then the
   least flexible, the largest, the earliest deadline, shuffles): each job takes the cheapest
   place at effective prices (£/kWh + carbon price x intensity, x PUE) in what capacity is left:
   an interruptible job its cheapest slots at one site, a non-interruptible one its cheapest
   block. Sites are fixed, not kW.
2. The site-fixed LP: with every job's site (and block start) fixed, one LP decides every kW,
   the batteries, the offered capacity and the carbon budget exactly. The best order wins.
3. Moves: each job, in order of predicted gain, goes to the cheapest place that fits what the
   others leave (another site; another start) when that beats its cost now (a shortfall counts
   at its penalty); the LP is re-solved and the moves kept while the objective falls.
4. Integrality and repair: a block a shared limit squeezes runs whole or not at all; a job left
   short gets a place that fits what is left, or all its sites, and the LP is solved again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from services.planner.optimiser.formulation import (
    Formulation,
    build,
    effective_price,
    empty_schedule,
    to_schedule,
)
from services.planner.optimiser.milp import highs_for, run
from services.planner.optimiser.model import (
    Job,
    Problem,
    Schedule,
    allowed_sites,
    block_profile,
    requirement_kwh,
    unmet_weight,
    window,
)

_EPS = 1e-9


@dataclass(frozen=True)
class Pattern:
    job: int
    site: int
    slots: np.ndarray
    kw: np.ndarray


@dataclass(frozen=True)
class FastStats:
    """What the fast planner did."""

    starts: int  # greedy orders tried
    rounds: int  # rounds of moves
    moves: int  # jobs moved in accepted rounds
    before_moves: float  # objective of the best greedy start
    after_moves: float
    repaired: int  # jobs re-placed by repairs that were kept


def _orders(problem: Problem, seed: int = 0):  # noqa: ANN201 - a generator of job orders
    """Job orders for the greedy, best guess first: commitments first, then jobs with no other
    site, then (in turn) the least flexible, the earliest deadline, a shuffle of the first rule,
    the largest, more shuffles."""
    committed = {j for (j, _s, _t) in problem.fixed}
    dt = problem.grid.slot_hours
    jobs = problem.jobs

    def slack(job: Job) -> float:
        need_slots = job.energy_kwh / max(job.power_kw * dt, _EPS)
        return (job.deadline_slot - job.earliest_slot) / max(need_slots, _EPS)

    def head(job: Job) -> tuple[bool, bool]:
        return job.job_id not in committed, job.migratable

    idx = range(len(jobs))
    rng = np.random.default_rng(seed)

    def shuffled() -> list[int]:
        noise = rng.uniform(0.5, 2.0, len(jobs))
        return sorted(idx, key=lambda i: (*head(jobs[i]), jobs[i].interruptible,
                                          slack(jobs[i]) * noise[i]))

    yield sorted(idx, key=lambda i: (*head(jobs[i]), jobs[i].interruptible, slack(jobs[i]),
                                     -jobs[i].power_kw))
    yield sorted(idx, key=lambda i: (*head(jobs[i]), jobs[i].deadline_slot, slack(jobs[i])))
    yield shuffled()
    yield sorted(idx, key=lambda i: (*head(jobs[i]), -jobs[i].energy_kwh))
    while True:
        yield shuffled()


class _Pricer:
    """Cheapest patterns for a job at given per-(site, slot) prices, within its constraints."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.n = problem.grid.n_slots
        self.dt = problem.grid.slot_hours
        self.site_index = {s.site_id: k for k, s in enumerate(problem.sites)}
        self.cap = np.array([s.capacity_kw for s in problem.sites])
        self.fixed: dict[int, dict[tuple[int, int], float]] = {}
        job_index = {j.job_id: i for i, j in enumerate(problem.jobs)}
        for (j, s, t), kw in problem.fixed.items():
            if j in job_index and s in self.site_index:
                self.fixed.setdefault(job_index[j], {})[(self.site_index[s], t)] = kw
        self.options: list[list[int]] = []
        self.profiles: dict[tuple[int, int], np.ndarray] = {}
        for i, job in enumerate(problem.jobs):
            opts = [self.site_index[s.site_id] for s in allowed_sites(problem, job)]
            forced = {k for (k, _t), kw in self.fixed.get(i, {}).items() if kw > 0}
            if forced:
                opts = [k for k in opts if k in forced]
            self.options.append(opts)
            if not job.interruptible:
                for k in opts:
                    self.profiles[(i, k)] = np.array(
                        block_profile(job, problem.sites[k].site_id, self.dt))

    def slots(self, job: Job) -> np.ndarray:
        w = window(job, self.n)
        return np.arange(w.start, w.stop)

    def fill(self, i: int, k: int, price: np.ndarray, avail: np.ndarray | None = None
             ) -> tuple[float, Pattern | None]:
        """Cheapest way to deliver job i's requirement at site k at these prices (per IT kW per
        slot): full power in the cheapest slots, the rest in the next. (cost, pattern); the
        pattern is None when the window cannot hold the energy."""
        job = self.problem.jobs[i]
        slots = self.slots(job)
        if len(slots) == 0:
            return np.inf, None
        need = requirement_kwh(job, self.problem.sites[k].site_id)
        top = np.full(len(slots), min(job.power_kw, self.cap[k]))
        if avail is not None:
            top = np.minimum(top, np.maximum(avail[slots], 0.0))
        kw = np.zeros(len(slots))
        free = np.ones(len(slots), dtype=bool)
        for (fk, ft), fkw in self.fixed.get(i, {}).items():
            if fk == k and slots[0] <= ft <= slots[-1]:
                kw[ft - slots[0]] = fkw
                free[ft - slots[0]] = False
        rest = need - kw.sum() * self.dt
        if rest > _EPS:
            idx = np.nonzero(free)[0]
            idx = idx[np.argsort(price[slots[idx]], kind="stable")]
            energy = np.cumsum(top[idx]) * self.dt
            if len(energy) == 0 or energy[-1] < rest - 1e-6 * max(1.0, rest):
                return np.inf, None
            last = min(int(np.searchsorted(energy, rest - _EPS)), len(idx) - 1)
            kw[idx[:last]] = top[idx[:last]]
            kw[idx[last]] = min(top[idx[last]],
                                (rest - (energy[last - 1] if last > 0 else 0.0)) / self.dt)
        used = kw > 0
        return float(kw @ price[slots]), Pattern(i, k, slots[used], kw[used])

    def block(self, i: int, k: int, price: np.ndarray, avail: np.ndarray | None = None
              ) -> tuple[float, Pattern | None]:
        """Cheapest start of non-interruptible job i at site k (fitting ``avail`` if given)."""
        job = self.problem.jobs[i]
        prof = self.profiles[(i, k)]
        slots = self.slots(job)
        if len(prof) == 0 or len(slots) < len(prof):
            return np.inf, None
        starts = slots[: len(slots) - len(prof) + 1]
        costs = sliding_window_view(price[slots], len(prof)) @ prof
        ok = np.ones(len(starts), dtype=bool)
        if avail is not None:
            ok &= (sliding_window_view(avail[slots], len(prof)) >= prof - 1e-7).all(axis=1)
        for (fk, ft), fkw in self.fixed.get(i, {}).items():
            off = ft - starts
            inside = (off >= 0) & (off < len(prof))
            val = np.where(inside, prof[np.clip(off, 0, len(prof) - 1)], 0.0)
            ok &= (np.abs(val - fkw) < 1e-6) if fk == k else np.full(len(ok), fkw <= 1e-9)
        if not ok.any():
            return np.inf, None
        costs = np.where(ok, costs, np.inf)
        b = int(np.argmin(costs))
        start = int(starts[b])
        return float(costs[b]), Pattern(i, k, np.arange(start, start + len(prof)), prof)

    def per_site(self, i: int, price: np.ndarray, avail: np.ndarray | None = None
                 ) -> list[tuple[float, Pattern]]:
        """The job's cheapest pattern at each of its sites (home first, then site order)."""
        job = self.problem.jobs[i]
        home = self.site_index.get(job.home_site)
        f = self.fill if job.interruptible else self.block
        out = []
        for k in sorted(self.options[i], key=lambda k: (k != home, k)):
            cost, pat = f(i, k, price[k], None if avail is None else avail[k])
            if pat is not None:
                out.append((cost, pat))
        return out

    def best(self, i: int, price: np.ndarray, avail: np.ndarray | None = None
             ) -> tuple[float, Pattern | None]:
        """The job's cheapest pattern over its sites (ties: home site, then site order)."""
        best_cost, best_pat = np.inf, None
        for cost, pat in self.per_site(i, price, avail):
            if cost < best_cost - 1e-12:
                best_cost, best_pat = cost, pat
        return best_cost, best_pat


def _greedy_patterns(problem: Problem, pricer: _Pricer, it_price: np.ndarray,
                     order: list[int]) -> list[Pattern]:
    """One pattern per job that fits, placed in order of inflexibility on what capacity is left
    (IT per site, grid per zone; batteries ignored)."""
    grid = problem.grid
    n = grid.n_slots
    pue = np.array([s.pue for s in problem.sites])
    avail = np.array([[s.capacity_kw] * n for s in problem.sites], dtype=float)
    zones = sorted({s.zone for s in problem.sites})
    zone_of = np.array([zones.index(s.zone) for s in problem.sites])
    zone_left = np.full((len(zones), n), np.inf)
    if grid.offered_kw is not None:
        for z, zone in enumerate(zones):
            if zone in grid.offered_kw:
                zone_left[z] = np.asarray(grid.offered_kw[zone], dtype=float)[:n]
    out: list[Pattern] = []
    for i in order:
        job = problem.jobs[i]
        if job.energy_kwh <= 0 or job.power_kw <= 0:
            continue
        room = np.minimum(avail, zone_left[zone_of] / pue[:, None])
        _, pat = pricer.best(i, it_price, room)
        if pat is None:
            _, pat = pricer.best(i, it_price)  # does not fit: let the master sort it out
            if pat is None:
                continue
        else:
            avail[pat.site, pat.slots] -= pat.kw
            zone_left[zone_of[pat.site], pat.slots] -= pat.kw * pue[pat.site]
        out.append(pat)
    return out


def _site_rounding(form: Formulation, values: np.ndarray) -> dict[int, float]:
    """Each interruptible job split across sites goes whole to its largest share."""
    by_job: dict[int, list[tuple[float, int]]] = {}
    for col, i, _k in form.z_cols:
        by_job.setdefault(int(i), []).append((float(values[col]), int(col)))
    out: dict[int, float] = {}
    for entries in by_job.values():
        if len(entries) > 1:
            top = max(entries)[1]
            out.update({col: float(col == top) for _v, col in entries})
    return out


def _fix(h: highspy.Highs, value_of: dict[int, float]) -> None:
    if value_of:
        cols = np.fromiter(value_of, dtype=np.int32)
        vals = np.fromiter(value_of.values(), dtype=float)
        h.changeColsBounds(len(cols), cols, vals, vals)


Options = tuple[dict[int, set[int]], dict[int, set[tuple[int, int]]]]


def _lp(problem: Problem, options: Options, time_limit_s: float
        ) -> tuple[Formulation, highspy.Highs, np.ndarray | None, str]:
    sites, starts = options
    form = build(problem, relax=True, site_options={i: tuple(v) for i, v in sites.items()},
                 start_options={i: tuple(v) for i, v in starts.items()}, per_slot_power=False)
    h = highs_for(form, integer=False, time_limit_s=time_limit_s, mip_gap=0.0)
    if form.errors:
        return form, h, None, "infeasible"
    sol = run(h, integer=False)
    return form, h, sol.values, sol.status


def _dive(form: Formulation, h: highspy.Highs, values: np.ndarray, max_steps: int = 30
          ) -> tuple[np.ndarray | None, str]:
    """Round the relaxation to one site per interruptible job and one start (or none) per
    non-interruptible job, re-solving (warm) between steps so later choices see earlier ones."""
    _fix(h, _site_rounding(form, values))
    status = "optimal"
    by_job: dict[int, list[int]] = {}
    for col, i, _k, _t in form.y_cols:
        by_job.setdefault(int(i), []).append(int(col))
    open_jobs = {i for i, cols in by_job.items() if len(cols) > 1}
    for step in range(max_steps + 1):
        sol = run(h, integer=False)
        if sol.values is None:
            return None, sol.status
        values, status = sol.values, sol.status
        fractional = []
        for i in sorted(open_jobs):
            cols = by_job[i]
            v = values[cols]
            if v.max() >= 1 - 1e-7 or v.max() <= 1e-7:
                continue
            fractional.append((float(v.max()), i))
        squeezed = [int(c) for c in form.y_cols[:, 0] if 1e-7 < values[c] < 1 - 1e-7]
        if not squeezed:
            break
        if step == max_steps or not fractional:
            # Run the squeezed blocks whole (others give way); drop them only if they can't.
            _fix(h, {c: 1.0 for c in squeezed})
            trial = run(h, integer=False)
            if trial.values is None or trial.status != "optimal":
                _fix(h, {c: 0.0 for c in squeezed})
            continue
        batch = [i for v, i in fractional if v >= 0.5] or [max(fractional)[1]]
        drop: dict[int, float] = {}
        for i in batch:
            cols = by_job[i]
            top = cols[int(np.argmax(values[cols]))]
            drop.update({c: 0.0 for c in cols if c != top})
            open_jobs.discard(i)
        h.changeColsBounds(len(drop), np.fromiter(drop, dtype=np.int32), np.zeros(len(drop)),
                           np.zeros(len(drop)))
    else:  # the last step changed bounds: solve once more so the answer reflects them
        sol = run(h, integer=False)
        if sol.values is None:
            return None, sol.status
        values, status = sol.values, sol.status
    return values, status


def _choice(form: Formulation, values: np.ndarray) -> Options:
    """The sites and starts an integral solution uses."""
    sites: dict[int, set[int]] = {}
    for col, i, k in form.z_cols:
        if values[col] > 0.5:
            sites[int(i)] = {int(k)}
    starts: dict[int, set[tuple[int, int]]] = {i: set() for i in form.w_cols}
    for col, i, k, t in form.y_cols:
        if values[col] > 0.5:
            starts[int(i)] = {(int(k), int(t))}
    return sites, starts


def _final(problem: Problem, choice: Options, time_limit_s: float
           ) -> tuple[Formulation, str, np.ndarray | None]:
    """The LP with every choice fixed; a block a shared limit squeezes is dropped, not cut."""
    form, h, values, status = _lp(problem, choice, time_limit_s)
    if values is None:
        return form, status, None
    _fix(h, _site_rounding(form, values))
    for _ in range(5):
        sol = run(h, integer=False)
        if sol.values is None:
            return form, sol.status, None
        values, status = sol.values, sol.status
        frac = [int(c) for c, v in zip(form.y_cols[:, 0], values[form.y_cols[:, 0]])
                if 1e-7 < v < 1 - 1e-7] if len(form.y_cols) else []
        if not frac:
            break
        _fix(h, {c: 0.0 for c in frac})
    return form, status, values


def _job_loads(problem: Problem, form: Formulation, values: np.ndarray
               ) -> dict[int, tuple[int, np.ndarray, np.ndarray]]:
    """Each running job's (site, slots, kW) in a solution with one site per job."""
    out: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
    if len(form.x_cols):
        x = form.x_cols
        v = values[x[:, 0]]
        on = v > 1e-9
        order = np.lexsort((x[on, 3], x[on, 1]))
        xs, vs = x[on][order], v[on][order]
        bounds = np.flatnonzero(np.diff(xs[:, 1])) + 1
        for seg_x, seg_v in zip(np.split(xs, bounds), np.split(vs, bounds)):
            if len(seg_x):
                out[int(seg_x[0, 1])] = (int(seg_x[0, 2]), seg_x[:, 3], seg_v)
    for col, i, k, t in form.y_cols:
        if values[col] > 0.5:
            prof = form.profiles[(int(i), int(k))]
            out[int(i)] = (int(k), np.arange(t, t + len(prof)), prof)
    return out


class _Room:
    """IT kW left per (site, slot), grid kW left per (zone, slot), as jobs move."""

    def __init__(self, problem: Problem, loads: dict[int, tuple[int, np.ndarray, np.ndarray]]):
        grid, n = problem.grid, problem.grid.n_slots
        self.pue = np.array([s.pue for s in problem.sites])
        self.site = np.array([[s.capacity_kw] * n for s in problem.sites], dtype=float)
        zones = sorted({s.zone for s in problem.sites})
        self.zone_of = np.array([zones.index(s.zone) for s in problem.sites])
        self.zone = np.full((len(zones), n), np.inf)
        if grid.offered_kw is not None:
            for z, zone in enumerate(zones):
                if zone in grid.offered_kw:
                    self.zone[z] = np.asarray(grid.offered_kw[zone], dtype=float)[:n]
        for k, slots, kw in loads.values():
            self.add(k, slots, -kw)

    def add(self, k: int, slots: np.ndarray, kw: np.ndarray) -> None:
        self.site[k, slots] += kw
        self.zone[self.zone_of[k], slots] += kw * self.pue[k]

    def it_kw(self) -> np.ndarray:
        return np.minimum(self.site, self.zone[self.zone_of] / self.pue[:, None])


def _repair(problem: Problem, pricer: _Pricer, form: Formulation, values: np.ndarray,
            choice: Options, price: np.ndarray) -> int:
    """Another chance for each job left short. A non-interruptible job gets the cheapest start
    that fits what is left, or else what the other blocks leave (interruptible work then makes
    way, at its site or elsewhere, in the next LP); an interruptible job gets all its sites.
    Returns how many jobs changed."""
    loads = _job_loads(problem, form, values)
    left = _Room(problem, loads)
    between_blocks = _Room(problem, {i: v for i, v in loads.items()
                                     if not problem.jobs[i].interruptible})
    sites, starts = choice
    changed = 0
    for i, c in sorted(form.w_cols.items()):
        if values[c] <= 0.5:
            continue
        _, pat = pricer.best(i, price, left.it_kw())
        if pat is None:
            _, pat = pricer.best(i, price, between_blocks.it_kw())
        if pat is not None:
            starts[i] = {(pat.site, int(pat.slots[0]))}
            left.add(pat.site, pat.slots, -pat.kw)
            between_blocks.add(pat.site, pat.slots, -pat.kw)
            changed += 1
    for i, c in sorted(form.u_cols.items()):
        if values[c] > 1e-6 and len(pricer.options[i]) > len(sites.get(i, ())):
            sites[i] = set(pricer.options[i])
            changed += 1
    return changed


def _relocate(problem: Problem, pricer: _Pricer, form: Formulation, values: np.ndarray,
              price: np.ndarray, choice: Options) -> tuple[Options, int]:
    """One round of moves: each job, best gain first, goes to the cheapest place that fits what
    the others leave (another site; or another start), when that beats where it is now."""
    loads = _job_loads(problem, form, values)
    room = _Room(problem, loads)
    weight = {i: unmet_weight(problem, j) for i, j in enumerate(problem.jobs)}

    def current(i: int) -> float:
        job = problem.jobs[i]
        if i in loads:
            k, slots, kw = loads[i]
            short = max(0.0, requirement_kwh(job, problem.sites[k].site_id)
                        - kw.sum() * problem.grid.slot_hours)
            return float(kw @ price[k, slots]) + weight[i] * short
        return weight[i] * job.energy_kwh

    def best_move(i: int) -> tuple[float, Pattern | None]:
        own = loads.get(i)
        if own is not None:
            room.add(*own)
        avail = room.it_kw()
        if own is not None:
            room.add(own[0], own[1], -own[2])
        sites, starts = choice
        best_gain, best_pat = 0.0, None
        now = current(i)
        for cost, pat in pricer.per_site(i, price, avail):
            same = (pat.site in sites[i]) if i in sites else \
                ((pat.site, int(pat.slots[0])) in starts.get(i, set()))
            gain = cost - now
            if not same and gain < best_gain - 1e-6 * max(1.0, abs(now)):
                best_gain, best_pat = gain, pat
        return best_gain, best_pat

    jobs = list(choice[0]) + list(choice[1])
    ranked = sorted((g, i) for i in jobs for g, p in [best_move(i)] if p is not None)
    moved = 0
    sites = {i: set(v) for i, v in choice[0].items()}
    starts = {i: set(v) for i, v in choice[1].items()}
    choice = (sites, starts)
    for _g, i in ranked:
        gain, pat = best_move(i)
        if pat is None:
            continue
        if i in loads:
            room.add(*loads[i])
        room.add(pat.site, pat.slots, -pat.kw)
        loads[i] = (pat.site, pat.slots, pat.kw)
        if problem.jobs[i].interruptible:
            sites[i] = {pat.site}
        else:
            starts[i] = {(pat.site, int(pat.slots[0]))}
        moved += 1
    return choice, moved


def _apply(choice: Options, patterns: list[Pattern], problem: Problem) -> Options:
    sites = {i: set(v) for i, v in choice[0].items()}
    starts = {i: set(v) for i, v in choice[1].items()}
    for pat in patterns:
        if problem.jobs[pat.job].interruptible:
            sites[pat.job] = {pat.site}
        else:
            starts[pat.job] = {(pat.site, int(pat.slots[0]))}
    return sites, starts


def solve_fast(problem: Problem, time_limit_s: float = 30.0, budget_s: float = 3.0,
               max_rounds: int = 30, max_starts: int = 8,
               stats: list[FastStats] | None = None) -> Schedule:
    """A good feasible schedule quickly; see the module docstring for the method.

    ``max_starts`` greedy orders are tried within half of ``budget_s``; moves improve the best
    within the rest (the rounding and repair come after). ``stats``, when given, receives what
    the rounds did.
    """
    t0 = time.perf_counter()
    if not problem.jobs or not problem.sites:
        return empty_schedule(problem, "feasible", time.perf_counter() - t0)
    pricer = _Pricer(problem)
    grid = problem.grid
    pue = np.array([s.pue for s in problem.sites])
    unit = pue[:, None] * effective_price(problem)
    carbon_kg = np.array([np.asarray(grid.carbon[s.zone], dtype=float) * grid.slot_hours / 1000
                          for s in problem.sites])
    sites: dict[int, set[int]] = {}
    starts: dict[int, set[tuple[int, int]]] = {}
    for i, job in enumerate(problem.jobs):
        if job.energy_kwh > 0 and job.power_kw > 0:
            if job.interruptible:
                sites[i] = {pricer.site_index[job.home_site]} & set(pricer.options[i]) \
                    or set(pricer.options[i][:1])
            else:
                starts[i] = set()
    best: tuple[float, Options, Formulation, highspy.Highs, np.ndarray] | None = None
    status = "error"
    n_try = 0
    for order in _orders(problem):
        if n_try >= max_starts or (n_try and time.perf_counter() - t0 > budget_s / 2):
            break
        n_try += 1
        trial = _apply((sites, starts), _greedy_patterns(problem, pricer, unit, order), problem)
        form, h, values, status = _lp(problem, trial, time_limit_s)
        if values is not None and (best is None or form.cost @ values < best[0]):
            best = (float(form.cost @ values), trial, form, h, values)
    if best is None:
        return empty_schedule(problem, status, time.perf_counter() - t0)
    objective, choice, form, h, values = best
    before = objective
    rounds = moves = repaired = 0
    while rounds < max_rounds and time.perf_counter() - t0 < budget_s:
        rounds += 1
        duals = np.asarray(h.getSolution().row_dual)
        price = unit - pue[:, None] * carbon_kg * np.r_[duals, 0.0][form.carbon_row]
        trial, moved = _relocate(problem, pricer, form, values, price, choice)
        fixing = 0
        if not moved:
            trial = ({i: set(v) for i, v in choice[0].items()},
                     {i: set(v) for i, v in choice[1].items()})
            fixing = _repair(problem, pricer, form, values, trial, price)
            if not fixing:
                break
        form2, h2, values2, _st = _lp(problem, trial, time_limit_s)
        if values2 is None or form2.cost @ values2 >= objective - 1e-9 * abs(objective):
            break
        choice, form, h, values = trial, form2, h2, values2
        objective = float(form.cost @ values)
        moves += moved
        repaired += fixing
    after = objective
    final, status = _dive(form, h, values)
    for _ in range(3):
        if final is None:
            break
        choice = _choice(form, final)
        if not _repair(problem, pricer, form, final, choice, unit):
            break
        remaining = max(1.0, time_limit_s - (time.perf_counter() - t0))
        form2, status2, final2 = _final(problem, choice, remaining)
        if final2 is None or form2.cost @ final2 >= form.cost @ final:
            break
        form, status, final = form2, status2, final2
        repaired += 1
    if stats is not None:
        stats.append(FastStats(starts=n_try, rounds=rounds, moves=moves, before_moves=before,
                               after_moves=after, repaired=repaired))
    if final is None:
        return empty_schedule(problem, status, time.perf_counter() - t0)
    return to_schedule(form, final, "feasible" if status == "optimal" else status,
                       time.perf_counter() - t0)
