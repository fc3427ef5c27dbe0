"""The runs page's chart, archived articles per publication day per source, as coordinates for
an SVG drawn by the template (no script, no library: it works offline and without JavaScript)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

DAYS = 30
WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 36  # margins for the axes' labels


@dataclass
class Series:
    source: str
    points: str  # SVG polyline points
    total: int


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    series: list[Series] = field(default_factory=list)
    y_ticks: list[tuple[float, int]] = field(default_factory=list)  # (y, value)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)  # (x, MM-DD)
    first_day: str = ""
    last_day: str = ""
    plot: tuple[int, int, int, int] = (LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM)


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50... times a power of ten that is >= value."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def articles_per_day(per_day: Iterable[Mapping], sources: Iterable[str], days: int = DAYS) -> Chart | None:
    """The chart of the `days` publication days up to the newest one (stats()['per_day'] rows);
    None when the archive is empty."""
    counts: dict[tuple[str, str], int] = {(row["source"], row["date"]): row["articles"] for row in per_day}
    if not counts:
        return None
    last = max(date.fromisoformat(day) for _, day in counts)
    span = [last - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    top = _nice_ceiling(max(counts.get((s, d.isoformat()), 0) for s in sources for d in span) or 1)
    left, upper, right, lower = LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM
    step = (right - left) / max(1, days - 1)

    def x(index: int) -> float:
        return round(left + index * step, 1)

    def y(value: int) -> float:
        return round(lower - (lower - upper) * value / top, 1)

    chart = Chart(first_day=span[0].isoformat(), last_day=last.isoformat())
    for source in sources:
        values = [counts.get((source, d.isoformat()), 0) for d in span]
        chart.series.append(Series(source, " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(values)),
                                   sum(values)))
    chart.y_ticks = [(y(top * k // 4), top * k // 4) for k in range(5)]
    chart.x_ticks = [(x(i), d.strftime("%m-%d")) for i, d in enumerate(span) if i % 7 == (days - 1) % 7]
    return chart
