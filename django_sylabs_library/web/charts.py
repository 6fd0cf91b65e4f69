"""Small server-rendered SVG charts (no JavaScript): horizontal bars with labels and values.

The template ``django_sylabs_library/elements/bar_chart.html`` draws what ``bar_chart``
computes; names are escaped by the template engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.template.defaultfilters import filesizeformat

WIDTH = 560
LABEL_WIDTH = 180
VALUE_WIDTH = 90
BAR_HEIGHT = 18
GAP = 8


@dataclass
class Bar:
    label: str
    value: int
    value_text: str
    y: int
    width: int
    text_y: int
    value_x: int


@dataclass
class BarChart:
    title: str
    description: str
    bars: list[Bar] = field(default_factory=list)
    width: int = WIDTH
    height: int = 0
    label_width: int = LABEL_WIDTH


def bar_chart(title: str, parts: list[tuple[str, int]], rest: int = 0, rest_label: str = "others") -> BarChart | None:
    """Bars for ``parts`` (label, bytes) and, if any, one for ``rest``; None when all are empty."""
    items = [(label, value) for label, value in parts if value > 0]
    if rest > 0:
        items.append((rest_label, rest))
    if not items:
        return None
    biggest = max(v for _, v in items)
    area = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    chart = BarChart(
        title=title,
        description=", ".join(f"{label}: {filesizeformat(value)}" for label, value in items),
    )
    for index, (label, value) in enumerate(items):
        y = GAP + index * (BAR_HEIGHT + GAP)
        width = max(2, round(area * value / biggest))
        short = label if len(label) <= 26 else label[:25] + "…"
        chart.bars.append(
            Bar(short, value, str(filesizeformat(value)), y, width, y + BAR_HEIGHT - 5, LABEL_WIDTH + width + 6)
        )
    chart.height = GAP + len(items) * (BAR_HEIGHT + GAP)
    return chart
