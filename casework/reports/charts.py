"""Server-side SVG charts (pygal): no JavaScript, no CDN, readable in a mail. pygal's default output links
its tooltip script from a CDN; `js=[]` leaves it out, so the SVG is static and self-contained."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pygal
from pygal.style import Style

# pygal writes its configuration into an inline <script> (for its optional tooltips) and credits in
# comments; neither is wanted in a page or a mail.
_SCRIPT = re.compile(r"<script[^>]*>.*?</script>|<!--.*?-->", re.S)

STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#333",
    foreground_strong="#111",
    foreground_subtle="#999",
    colors=("#2f6fb0", "#d9822b", "#3a9a5b", "#b03a48", "#7a5bb0", "#888888"),
    font_family="system-ui, -apple-system, 'Segoe UI', sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    title_font_size=13,
    legend_font_size=11,
    value_font_size=10,
)


def _config(title: str, *, height: int, legend: bool) -> dict:
    return {
        "title": title,
        "style": STYLE,
        "js": [],
        "disable_xml_declaration": True,
        "width": 520,
        "height": height,
        "show_legend": legend,
        "legend_at_bottom": True,
        "x_label_rotation": 0,
        "show_minor_x_labels": False,
        "truncate_label": -1,
        "margin": 8,
        "explicit_size": False,
        "print_values": False,
        "no_data_text": "No data in this range",
    }


def _thin_labels(labels: Sequence[str], every: int) -> list[str]:
    return [label if i % every == 0 else "" for i, label in enumerate(labels)]


def line(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    target: float | None = None,
    target_label: str = "target",
    height: int = 220,
    value_formatter=None,
) -> str:
    chart = pygal.Line(**_config(title, height=height, legend=len(series) > 1 or target is not None))
    every = max(1, len(labels) // 8)
    chart.x_labels = list(labels)
    chart.x_labels_major = _thin_labels(labels, every)
    chart.x_labels_major = [label for label in chart.x_labels_major if label]
    if value_formatter:
        chart.value_formatter = value_formatter
    for name, values in series.items():
        chart.add(name, list(values), show_dots=len(labels) <= 16)
    if target is not None:
        chart.add(target_label, [target] * len(labels), show_dots=False, stroke_style={"dasharray": "4,4"})
    return _clean(chart.render(is_unicode=True))


def bar(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    height: int = 220,
    stacked: bool = True,
) -> str:
    cls = pygal.StackedBar if stacked and len(series) > 1 else pygal.Bar
    chart = cls(**_config(title, height=height, legend=len(series) > 1))
    every = max(1, len(labels) // 8)
    chart.x_labels = list(labels)
    chart.x_labels_major = [label for label in _thin_labels(labels, every) if label]
    for name, values in series.items():
        chart.add(name, list(values))
    return _clean(chart.render(is_unicode=True))


def _clean(svg: str) -> str:
    return _SCRIPT.sub("", svg)
