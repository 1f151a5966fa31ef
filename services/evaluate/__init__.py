"""Planner evaluation: a synthetic fleet replayed on the real June 2023 traces, run-now, the
cleanest site, the Carbon Aware SDK rule, pause-above-threshold and degflex side by side."""
