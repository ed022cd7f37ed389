"""The reports page's daily chart, laid out on the server: one stacked bar per day.

Only geometry is computed here; `reports.html` writes it out as inline SVG (autoescaped, no
script, nothing loaded), so the chart works under the admin's Content-Security-Policy. The
coordinates are in the SVG's own units: the picture scales to the width of the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.admin.report_views import DayFigures

WIDTH, HEIGHT = 480, 230
LEFT, RIGHT, TOP, BOTTOM = 38, 8, 30, 30
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_X_LABELS = 6
COLOURS = {"automatic": "#2456c8", "staff": "#17663a", "open": "#c9d2e3"}


@dataclass(frozen=True)
class Segment:
    """One part of a day's bar."""

    kind: str
    """automatic, staff or open (received, not answered)."""
    y: float
    height: float
    fill: str


@dataclass(frozen=True)
class Bar:
    """One day's bar and its tooltip (the `<title>` a screen reader reads too)."""

    day: str
    x: float
    width: float
    segments: list[Segment]
    label: str


@dataclass(frozen=True)
class Tick:
    """An axis label and where it stands."""

    position: float
    text: str


@dataclass(frozen=True)
class Chart:
    """The whole picture: its size, the plot's edges, the bars and the axes."""

    width: int
    height: int
    left: int
    top: int
    bottom: float
    right: int
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    description: str


def _step(most: int) -> int:
    """A round step (1, 2 or 5 times a power of ten) giving about four gridlines."""
    wanted = max(1.0, most / 4)
    power = 10 ** math.floor(math.log10(wanted))
    return next(int(m * power) for m in (1, 2, 5, 10) if m * power >= wanted)


def daily_chart(daily: list[DayFigures]) -> Chart:
    """A bar per day: answered automatically at the bottom, by staff above, the rest on top."""
    most = max((d.received for d in daily), default=0)
    step = _step(most)
    top_value = max(step, step * math.ceil(most / step))
    scale = PLOT_HEIGHT / top_value
    slot = PLOT_WIDTH / max(1, len(daily))
    # A gap between bars while they are wide enough to show one.
    gap = slot * 0.2 if slot >= 4 else 0.0
    baseline = TOP + PLOT_HEIGHT
    bars: list[Bar] = []
    for index, day in enumerate(daily):
        automatic = min(day.answered_automatically, day.received)
        staff = min(day.answered_by_staff, day.received - automatic)
        parts = (
            ("automatic", automatic),
            ("staff", staff),
            ("open", day.received - automatic - staff),
        )
        segments: list[Segment] = []
        y = float(baseline)
        for kind, count in parts:
            if count <= 0:
                continue
            height = count * scale
            y -= height
            segments.append(Segment(kind, round(y, 2), round(height, 2), COLOURS[kind]))
        bars.append(
            Bar(
                day=day.day.isoformat(),
                x=round(LEFT + index * slot + gap / 2, 2),
                width=round(slot - gap, 2),
                segments=segments,
                label=(
                    f"{day.day.isoformat()}: {day.received} received, "
                    f"{day.answered_automatically} answered automatically, "
                    f"{day.answered_by_staff} by staff"
                ),
            )
        )
    every = max(1, math.ceil(len(daily) / MAX_X_LABELS))
    x_ticks = [
        Tick(round(LEFT + (index + 0.5) * slot, 2), day.day.strftime("%m-%d"))
        for index, day in enumerate(daily)
        if index % every == 0
    ]
    y_ticks = [
        Tick(round(baseline - value * scale, 2), str(value))
        for value in range(0, top_value + 1, step)
    ]
    received = sum(d.received for d in daily)
    automatic_total = sum(d.answered_automatically for d in daily)
    staff_total = sum(d.answered_by_staff for d in daily)
    first, last = (daily[0].day, daily[-1].day) if daily else (None, None)
    description = (
        f"One bar for each of the {len(daily)} days from {first} to {last}: {received} emails "
        f"received, {automatic_total} answered automatically and {staff_total} by staff. "
        f"The busiest day had {most}."
    )
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        top=TOP,
        bottom=baseline,
        right=WIDTH - RIGHT,
        bars=bars,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        description=description,
    )
