"""The planning model as a sparse (MI)LP in HiGHS's column form, and a Schedule from its solution.

Columns: x (IT kW of an interruptible job at a site in a slot), z (site choice of an
interruptible job), y (start of a non-interruptible job at a site in a slot), u (unmet kWh of an
interruptible job), w (a non-interruptible job not run), c/d (battery charge/discharge kW, grid
side) and e (battery SoC at the end of each slot). Rows and the objective: docs/planner.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from services.planner.optimiser.model import (
    Problem,
    Schedule,
    allowed_sites,
    block_profile,
    evaluate,
    requirement_kwh,
    shortfall_kwh,
    unmet_weight,
    window,
)

INF = float("inf")
_CLEAN_KW = 1e-7


@dataclass
class Builder:
    cost: list[float] = field(default_factory=list)
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    row_lower: list[float] = field(default_factory=list)
    row_upper: list[float] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    cols: list[np.ndarray] = field(default_factory=list)
    vals: list[np.ndarray] = field(default_factory=list)

    def add_cols(self, cost: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 integer: bool) -> np.ndarray:
        first = len(self.cost)
        self.cost.extend(np.asarray(cost, dtype=float).tolist())
        self.lower.extend(np.broadcast_to(np.asarray(lower, dtype=float), np.shape(cost)).tolist())
        self.upper.extend(np.broadcast_to(np.asarray(upper, dtype=float), np.shape(cost)).tolist())
        self.integer.extend([integer] * len(cost))
        return np.arange(first, len(self.cost))

    def add_rows(self, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        first = len(self.row_lower)
        self.row_lower.extend(np.asarray(lower, dtype=float).tolist())
        self.row_upper.extend(np.asarray(upper, dtype=float).tolist())
        return np.arange(first, len(self.row_lower))

    def add_entries(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        self.rows.append(np.asarray(rows, dtype=np.int64))
        self.cols.append(np.asarray(cols, dtype=np.int64))
        self.vals.append(np.asarray(vals, dtype=float))


@dataclass
class Formulation:
    """The model's arrays plus the maps from columns back to jobs, sites and slots."""

    problem: Problem
    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray
    matrix: sp.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    x_cols: np.ndarray  # rows: (col, job index, site index, slot)
    z_cols: np.ndarray  # rows: (col, job index, site index)
    y_cols: np.ndarray  # rows: (col, job index, site index, start slot)
    u_cols: dict[int, int]  # job index -> col
    w_cols: dict[int, int]
    battery_cols: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]  # site -> (c, d, e)
    profiles: dict[tuple[int, int], np.ndarray]  # (job, site) -> non-interruptible kW profile
    errors: list[str]  # commitments that cannot be kept: the model is infeasible
    cap_rows: np.ndarray  # (site, slot) -> row of the IT capacity limit, -1 when never binding
    zone_rows: np.ndarray  # (site, slot) -> row of its zone's offered-capacity limit, or -1
    import_rows: np.ndarray  # (site, slot) -> row of "grid import >= 0" (battery sites), or -1
    carbon_row: int  # row of the carbon budget, or -1

    @property
    def n_binaries(self) -> int:
        return int(self.integer.sum())


def effective_price(problem: Problem) -> np.ndarray:
    """£ per grid-side kW held for one slot, per (site, slot): dt x (price + carbon price x
    t/kWh)."""
    grid = problem.grid
    lam = problem.carbon_price_gbp_per_t * 1e-6
    return np.array([grid.slot_hours * (np.asarray(grid.price[s.zone], dtype=float)
                                        + lam * np.asarray(grid.carbon[s.zone], dtype=float))
                     for s in problem.sites])


def build(problem: Problem, *, relax: bool = False,
          site_options: dict[int, tuple[int, ...]] | None = None,
          start_options: dict[int, tuple[tuple[int, int], ...]] | None = None,
          per_slot_power: bool = True) -> Formulation:
    """The MILP (or its LP relaxation when ``relax``).

    ``site_options`` limits interruptible jobs (by index) to some site indices; ``start_options``
    limits non-interruptible jobs to some (site index, start slot) pairs (none: not run). Jobs
    keep their unmet slack, so the model stays feasible whenever the commitments are.
    ``per_slot_power`` adds, for a job with several sites, "its kW over all sites <= its power"
    in every slot: redundant for the MILP, it tightens the relaxation at the price of rows.
    """
    grid, dt, n = problem.grid, problem.grid.slot_hours, problem.grid.n_slots
    site_index = {s.site_id: k for k, s in enumerate(problem.sites)}
    job_index = {j.job_id: i for i, j in enumerate(problem.jobs)}
    pue = np.array([s.pue for s in problem.sites])
    eff = effective_price(problem)
    carbon_kg = np.array([np.asarray(grid.carbon[s.zone], dtype=float) * dt / 1000.0
                          for s in problem.sites])
    b = Builder()
    errors: list[str] = []

    x_rec: list[np.ndarray] = []
    z_rec: list[tuple[int, int, int]] = []
    y_rec: list[np.ndarray] = []
    u_cols: dict[int, int] = {}
    w_cols: dict[int, int] = {}
    profiles: dict[tuple[int, int], np.ndarray] = {}

    fixed_by_job: dict[int, list[tuple[int, int, float]]] = {}
    for (jid, sid, t), kw in problem.fixed.items():
        if jid not in job_index or sid not in site_index:
            errors.append(f"fixed {jid}@{sid} slot {t}: unknown job or site")
            continue
        fixed_by_job.setdefault(job_index[jid], []).append((site_index[sid], t, float(kw)))

    # IT load on each (site, slot) as (col, coefficient) pieces, summed later into rows.
    load_cols: list[np.ndarray] = []
    load_site: list[np.ndarray] = []
    load_slot: list[np.ndarray] = []
    load_val: list[np.ndarray] = []
    carbon_cols: list[np.ndarray] = []
    carbon_vals: list[np.ndarray] = []

    for i, job in enumerate(problem.jobs):
        if job.energy_kwh <= 0 or job.power_kw <= 0:
            continue
        slots = np.arange(window(job, n).start, window(job, n).stop)
        sites = [site_index[s.site_id] for s in allowed_sites(problem, job)]
        fixed = fixed_by_job.get(i, [])
        weight = unmet_weight(problem, job)
        if job.interruptible:
            if site_options is not None and i in site_options:
                sites = [k for k in sites if k in site_options[i]] or sites[:1]
            zc = b.add_cols(np.zeros(len(sites)), 0.0, 1.0, not relax)
            for k, c in zip(sites, zc):
                z_rec.append((int(c), i, k))
            u = int(b.add_cols(np.array([weight]), 0.0, INF, False)[0])
            u_cols[i] = u
            energy_row = int(b.add_rows([0.0], [0.0])[0])
            choice_row = int(b.add_rows([1.0], [1.0])[0])
            b.add_entries([energy_row], [u], [1.0])
            b.add_entries(np.full(len(sites), choice_row), zc, np.ones(len(sites)))
            req = np.array([requirement_kwh(job, problem.sites[k].site_id) for k in sites])
            b.add_entries(np.full(len(sites), energy_row), zc, -req)
            if len(sites) == 1:
                b.lower[int(zc[0])] = 1.0
            pinned = {(k, t): kw for k, t, kw in fixed}
            multi = per_slot_power and len(sites) > 1
            if multi and len(slots):
                # One site per slot in the relaxation too: the job's power over its sites.
                power_rows = b.add_rows(np.full(len(slots), -INF),
                                        np.full(len(slots), job.power_kw))
            for k, zcol, r in zip(sites, zc, req):
                if len(slots) == 0:
                    continue
                ub = np.full(len(slots), job.power_kw)
                lb = np.zeros(len(slots))
                for (fk, ft), kw in pinned.items():
                    if fk == k and slots[0] <= ft < slots[-1] + 1:
                        lb[ft - slots[0]] = ub[ft - slots[0]] = kw
                xc = b.add_cols(pue[k] * eff[k, slots], lb, ub, False)
                x_rec.append(np.column_stack([xc, np.full(len(xc), i), np.full(len(xc), k), slots]))
                link_row = int(b.add_rows([-INF], [0.0])[0])
                b.add_entries(np.full(len(xc), link_row), xc, np.full(len(xc), dt))
                b.add_entries([link_row], [zcol], [-r])
                b.add_entries(np.full(len(xc), energy_row), xc, np.full(len(xc), dt))
                if multi:
                    b.add_entries(power_rows, xc, np.ones(len(xc)))
                load_cols.append(xc)
                load_site.append(np.full(len(xc), k))
                load_slot.append(slots)
                load_val.append(np.ones(len(xc)))
                carbon_cols.append(xc)
                carbon_vals.append(pue[k] * carbon_kg[k, slots])
            for k, t, kw in fixed:
                in_window = len(slots) > 0 and slots[0] <= t <= slots[-1]
                if kw > 0 and (k not in sites or not in_window):
                    errors.append(f"fixed {job.job_id} slot {t}: outside its window or sites")
                elif kw > job.power_kw + 1e-9:
                    errors.append(f"fixed {job.job_id} slot {t}: {kw} kW over its power")
                elif kw > 0:
                    b.lower[int(zc[sites.index(k)])] = 1.0
        else:
            w = int(b.add_cols(np.array([weight * job.energy_kwh]), 0.0, 1.0, False)[0])
            w_cols[i] = w
            one_row = int(b.add_rows([1.0], [1.0])[0])
            b.add_entries([one_row], [w], [1.0])
            pairs = None if start_options is None else start_options.get(i)
            if pairs is not None:
                sites = [k for k in sites if any(pk == k for pk, _ in pairs)]
            fixed_rows: dict[tuple[int, int], int] = {}
            for k, t, kw in fixed:
                r = int(b.add_rows([kw], [kw])[0])
                fixed_rows[(k, t)] = r
            for k in sites:
                prof = np.array(block_profile(job, problem.sites[k].site_id, dt))
                profiles[(i, k)] = prof
                starts = np.arange(slots[0], slots[-1] + 2 - len(prof)) if len(slots) else \
                    np.arange(0)
                if pairs is not None:
                    starts = starts[np.isin(starts, [t for pk, t in pairs if pk == k])]
                if len(starts) == 0:
                    continue
                occ = starts[:, None] + np.arange(len(prof))[None, :]  # (start, offset) -> slot
                costs = (pue[k] * eff[k, occ] * prof[None, :]).sum(axis=1)
                yc = b.add_cols(costs, 0.0, 1.0, not relax)
                y_rec.append(np.column_stack([yc, np.full(len(yc), i), np.full(len(yc), k),
                                              starts]))
                b.add_entries(np.full(len(yc), one_row), yc, np.ones(len(yc)))
                flat_cols = np.repeat(yc, len(prof))
                load_cols.append(flat_cols)
                load_site.append(np.full(len(flat_cols), k))
                load_slot.append(occ.ravel())
                load_val.append(np.tile(prof, len(starts)))
                carbon_cols.append(yc)
                carbon_vals.append((pue[k] * carbon_kg[k, occ] * prof[None, :]).sum(axis=1))
                for (fk, ft), r in fixed_rows.items():
                    if fk != k:
                        continue
                    off = ft - starts
                    hit = (off >= 0) & (off < len(prof))
                    b.add_entries(np.full(int(hit.sum()), r), yc[hit], prof[off[hit]])

    lc = np.concatenate(load_cols) if load_cols else np.zeros(0, dtype=np.int64)
    ls = np.concatenate(load_site) if load_site else np.zeros(0, dtype=np.int64)
    lt = np.concatenate(load_slot) if load_slot else np.zeros(0, dtype=np.int64)
    lv = np.concatenate(load_val) if load_val else np.zeros(0)
    n_sites = len(problem.sites)
    ub_arr = np.asarray(b.upper)
    # Most a site can draw per slot: every candidate at full power (used to drop slack rows).
    max_it = np.zeros((n_sites, n))
    np.add.at(max_it, (ls, lt), lv * (ub_arr[lc] if len(lc) else 0.0))
    cap = np.array([s.capacity_kw for s in problem.sites])

    # Site capacity rows.
    cap_row = np.full((n_sites, n), -1, dtype=np.int64)
    need = max_it > cap[:, None] + 1e-9
    if need.any():
        ks, ts = np.nonzero(need)
        rows = b.add_rows(np.full(len(ks), -INF), cap[ks])
        cap_row[ks, ts] = rows
        sel = cap_row[ls, lt] >= 0
        b.add_entries(cap_row[ls[sel], lt[sel]], lc[sel], lv[sel])

    # Batteries: charge c, discharge d, SoC e; import >= 0 and SoC dynamics.
    battery_cols: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    import_rows = np.full((n_sites, n), -1, dtype=np.int64)
    zone_rows = np.full((n_sites, n), -1, dtype=np.int64)
    for k, site in enumerate(problem.sites):
        bat = site.battery
        if bat is None or bat.power_kw <= 0 or bat.energy_kwh <= 0:
            continue
        c = b.add_cols(eff[k], 0.0, bat.power_kw, False)
        d = b.add_cols(-eff[k], 0.0, bat.power_kw, False)
        e_lb = np.full(n, bat.floor_kwh)
        e_lb[-1] = max(bat.floor_kwh, bat.soc_kwh)
        e = b.add_cols(np.zeros(n), e_lb, np.full(n, max(bat.energy_kwh, bat.soc_kwh)), False)
        battery_cols[k] = (c, d, e)
        dyn = b.add_rows(np.r_[bat.soc_kwh, np.zeros(n - 1)], np.r_[bat.soc_kwh, np.zeros(n - 1)])
        b.add_entries(dyn, e, np.ones(n))
        b.add_entries(dyn[1:], e[:-1], -np.ones(n - 1))
        b.add_entries(dyn, c, np.full(n, -bat.efficiency * dt))
        b.add_entries(dyn, d, np.full(n, dt))
        imp = b.add_rows(np.zeros(n), np.full(n, INF))
        import_rows[k] = imp
        sel = ls == k
        b.add_entries(imp[lt[sel]], lc[sel], pue[k] * lv[sel])
        b.add_entries(imp, c, np.ones(n))
        b.add_entries(imp, d, -np.ones(n))
        carbon_cols.extend([c, d])
        carbon_vals.extend([carbon_kg[k], -carbon_kg[k]])

    # Offered grid capacity per zone and slot.
    if grid.offered_kw is not None:
        for zone, offered in grid.offered_kw.items():
            members = [k for k, s in enumerate(problem.sites) if s.zone == zone]
            if not members:
                continue
            off = np.asarray(offered, dtype=float)[:n]
            most = sum(pue[k] * np.minimum(max_it[k], cap[k]) for k in members)
            most = most + sum(problem.sites[k].battery.power_kw for k in members
                              if k in battery_cols)
            ts = np.nonzero(most > off + 1e-9)[0]
            if len(ts) == 0:
                continue
            rows = b.add_rows(np.full(len(ts), -INF), off[ts])
            row_of = np.full(n, -1, dtype=np.int64)
            row_of[ts] = rows
            for k in members:
                zone_rows[k] = row_of
                sel = (ls == k) & (row_of[lt] >= 0)
                b.add_entries(row_of[lt[sel]], lc[sel], pue[k] * lv[sel])
                if k in battery_cols:
                    c, d, _ = battery_cols[k]
                    b.add_entries(rows, c[ts], np.ones(len(ts)))
                    b.add_entries(rows, d[ts], -np.ones(len(ts)))

    carbon_row = -1
    if problem.carbon_budget_kg is not None:
        r = carbon_row = int(b.add_rows([-INF], [problem.carbon_budget_kg])[0])
        cc = np.concatenate(carbon_cols) if carbon_cols else np.zeros(0, dtype=np.int64)
        cv = np.concatenate(carbon_vals) if carbon_vals else np.zeros(0)
        b.add_entries(np.full(len(cc), r), cc, cv)

    n_cols, n_rows = len(b.cost), len(b.row_lower)
    rows = np.concatenate(b.rows) if b.rows else np.zeros(0, dtype=np.int64)
    cols = np.concatenate(b.cols) if b.cols else np.zeros(0, dtype=np.int64)
    vals = np.concatenate(b.vals) if b.vals else np.zeros(0)
    matrix = sp.csc_matrix((vals, (rows, cols)), shape=(n_rows, n_cols))
    matrix.sum_duplicates()
    empty4 = np.zeros((0, 4), dtype=np.int64)
    return Formulation(
        problem=problem, cost=np.asarray(b.cost), lower=np.asarray(b.lower),
        upper=np.asarray(b.upper), integer=np.asarray(b.integer, dtype=bool), matrix=matrix,
        row_lower=np.asarray(b.row_lower), row_upper=np.asarray(b.row_upper),
        x_cols=np.vstack(x_rec).astype(np.int64) if x_rec else empty4,
        z_cols=np.array(z_rec, dtype=np.int64).reshape(-1, 3),
        y_cols=np.vstack(y_rec).astype(np.int64) if y_rec else empty4,
        u_cols=u_cols, w_cols=w_cols, battery_cols=battery_cols, profiles=profiles,
        errors=errors, cap_rows=cap_row, zone_rows=zone_rows, import_rows=import_rows,
        carbon_row=carbon_row)


def to_schedule(form: Formulation, values: np.ndarray, status: str, solve_s: float) -> Schedule:
    """A Schedule from a solution vector: integral choices rounded, tiny flows dropped, costs
    recomputed by ``evaluate`` so every solver reports them the same way."""
    problem = form.problem
    jobs, sites = problem.jobs, problem.sites
    run: dict[tuple[str, str, int], float] = {}
    if len(form.x_cols):
        v = values[form.x_cols[:, 0]]
        keep = v > _CLEAN_KW
        for (col, i, k, t), kw in zip(form.x_cols[keep], v[keep]):
            run[(jobs[i].job_id, sites[k].site_id, int(t))] = float(min(kw, jobs[i].power_kw))
    if len(form.y_cols):
        v = values[form.y_cols[:, 0]]
        for (col, i, k, t), val in zip(form.y_cols[v > 0.5], v[v > 0.5]):
            prof = form.profiles[(int(i), int(k))]
            for off, kw in enumerate(prof):
                run[(jobs[i].job_id, sites[k].site_id, int(t) + off)] = float(kw)
    battery: dict[tuple[str, int], float] = {}
    for k, (c, d, _e) in form.battery_cols.items():
        net = values[d] - values[c]
        for t in np.nonzero(np.abs(net) > _CLEAN_KW)[0]:
            battery[(sites[k].site_id, int(t))] = float(net[t])
    draft = Schedule(run_kw=run, battery_kw=battery, cost_gbp=0.0, carbon_kg=0.0, objective=0.0,
                     unmet_kwh={}, status=status, solve_s=solve_s)
    short = shortfall_kwh(problem, draft)
    unmet = {j: (kwh if kwh > 1e-6 * max(1.0, kwh) else 0.0) for j, kwh in short.items()}
    draft = Schedule(run_kw=run, battery_kw=battery, cost_gbp=0.0, carbon_kg=0.0, objective=0.0,
                     unmet_kwh=unmet, status=status, solve_s=solve_s)
    cost, carbon, objective = evaluate(problem, draft)
    return Schedule(run_kw=run, battery_kw=battery, cost_gbp=cost, carbon_kg=carbon,
                    objective=objective, unmet_kwh=unmet, status=status, solve_s=solve_s)


def empty_schedule(problem: Problem, status: str, solve_s: float) -> Schedule:
    """Nothing run: every job's energy unmet (the answer when the model itself is infeasible)."""
    draft = Schedule(run_kw={}, battery_kw={}, cost_gbp=0.0, carbon_kg=0.0, objective=0.0,
                     unmet_kwh={j.job_id: j.energy_kwh for j in problem.jobs}, status=status,
                     solve_s=solve_s)
    cost, carbon, objective = evaluate(problem, draft)
    return Schedule(run_kw={}, battery_kw={}, cost_gbp=cost, carbon_kg=carbon, objective=objective,
                    unmet_kwh=draft.unmet_kwh, status=status, solve_s=solve_s)
