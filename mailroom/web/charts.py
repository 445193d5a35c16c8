"""A small bar chart as inline SVG, computed server-side (no JavaScript, no CDN)."""

from __future__ import annotations

from dataclasses import dataclass

from mailroom.services.stats import ThroughputBucket

WIDTH = 720
HEIGHT = 180
MARGIN_LEFT = 40
MARGIN_BOTTOM = 24


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    max_value: float
    ticks: list[tuple[float, str]]  # x position, label
    total_pages: int


def throughput_chart(buckets: list[ThroughputBucket]) -> Chart:
    """Bars of pages per minute, one per bucket, with hour labels underneath."""
    plot_w = WIDTH - MARGIN_LEFT
    plot_h = HEIGHT - MARGIN_BOTTOM
    top = max((b.pages_per_minute for b in buckets), default=0.0) or 1.0
    step = plot_w / max(len(buckets), 1)
    bars, ticks = [], []
    for i, bucket in enumerate(buckets):
        h = plot_h * bucket.pages_per_minute / top
        x = MARGIN_LEFT + i * step
        local = bucket.start.astimezone()
        bars.append(
            Bar(
                x=round(x + 1, 1),
                y=round(plot_h - h, 1),
                width=round(max(step - 2, 1), 1),
                height=round(h, 1),
                title=(
                    f"{local:%H:%M}: {bucket.pages_per_minute:.1f} Seiten/min "
                    f"({bucket.pages} Seiten)"
                ),
            )
        )
        if local.minute == 0:
            ticks.append((round(x, 1), f"{local:%H} Uhr"))
    return Chart(WIDTH, HEIGHT, bars, top, ticks, sum(b.pages for b in buckets))
