"""CompFlex's planning model and its solvers (exact MILP, fast heuristic, re-planning)."""

from services.planner.optimiser.model import (
    Battery,
    Grid,
    Job,
    Problem,
    Schedule,
    Site,
    evaluate,
    violations,
)

__all__ = ["Battery", "Grid", "Job", "Problem", "Schedule", "Site", "evaluate", "violations"]
