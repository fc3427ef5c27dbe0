"""Shared helpers for the benchmarks: timing, percentiles, result rows."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "tests" / "fixtures" / "pages"


@dataclass
class Figure:
    group: str
    name: str
    value: float
    unit: str
    baseline: str = ""  # what it is compared with, e.g. "22.4x trafilatura"
    target: str = ""
    met: bool | None = None

    def row(self) -> list[str]:
        met = {True: "yes", False: "NO", None: ""}[self.met]
        value = f"{self.value:,.0f}" if float(self.value).is_integer() else f"{self.value:,.1f}"
        return [self.group, self.name, f"{value} {self.unit}", self.baseline, self.target, met]


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def best_of(func, repeat: int = 3) -> float:
    """Best wall time of `repeat` calls (seconds): the least disturbed by a noisy machine."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_table(figures: list[Figure]) -> None:
    header = ["group", "figure", "value", "beside baseline", "target", "met"]
    rows = [header] + [f.row() for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
