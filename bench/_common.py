"""What every benchmark shares: the nearest-rank percentile, the machine it ran on, and
writing its section of docs/benchmarks.md.

The scripts run as `python bench/<name>.py`, so this directory is on `sys.path` and they
`from _common import ...`.
"""

from __future__ import annotations

import math
import os
import platform
import re
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def pct(xs: list[float], q: float) -> float:
    """The q-th percentile (0-100) of xs, nearest rank: a value that was measured."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q / 100 * (len(xs) - 1)))]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo; elsewhere what `platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def load_1m() -> float:
    """The 1-minute load average (NaN where the OS has none): above ~2 on this 2-core machine
    means other work shared the CPUs."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan


def machine() -> str:
    """One line for a benchmark's header: cores, CPU model, Python."""
    return f"{os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}"


def write_section(title: str, section: str, path: Path = BENCHMARKS_MD) -> None:
    """Put `section` (which starts with its own heading) where the section headed `## title`
    or `## title: ...` is in docs/benchmarks.md, or at the end; the other sections stay."""
    text = path.read_text("utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(title)}(?=[:\n]).*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", "utf-8")
