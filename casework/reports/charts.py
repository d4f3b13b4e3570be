"""Server-side SVG charts (pygal): no JavaScript, no CDN, readable in a mail. pygal's default output links
its tooltip script from a CDN; `js=[]` leaves it out, so the SVG is static and self-contained."""

from __future__ import annotations

import functools
import html
import math
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
        "title": title or None,
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


def _major(labels: Sequence[str], most: int = 7) -> list[str]:
    """At most `most` labels printed under the axis (every k-th), so dates never overlap."""
    every = max(1, math.ceil(len(labels) / most))
    return [label for i, label in enumerate(labels) if i % every == 0]


def _y_axis(chart, values: list[float], *, percent: bool, floor_zero: bool = True) -> None:
    """Counts get whole-number ticks from 0; shares run 0–100 %; anything else starts at 0 so a flat line
    at the top of the box is not mistaken for a big change."""
    top = max([v for v in values if v is not None] or [0])
    if percent:
        chart.range = (0, 100)
        chart.y_labels = [0, 20, 40, 60, 80, 100]
    elif floor_zero:
        chart.range = (0, top * 1.1 if top else 1)


def _integer_ticks(chart, values: list[float]) -> None:
    top = int(max([v for v in values if v is not None] or [0]))
    step = max(1, math.ceil(top / 5))
    chart.y_labels = list(range(0, top + step + 1, step))
    chart.range = (0, top + step)


def line(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    target: float | None = None,
    target_label: str = "target",
    height: int = 220,
    percent: bool = False,
    counts: bool = False,
) -> str:
    chart = pygal.Line(**_config(title, height=height, legend=len(series) > 1 or target is not None))
    chart.x_labels = list(labels)
    chart.x_labels_major = _major(labels)
    values = [v for vs in series.values() for v in vs] + ([target] if target is not None else [])
    if counts:
        _integer_ticks(chart, values)
    else:
        _y_axis(chart, values, percent=percent)
    for name, points in series.items():
        chart.add(name, list(points), show_dots=len(labels) <= 16)
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
    chart.x_labels = list(labels)
    chart.x_labels_major = _major(labels)
    totals = [sum(v or 0 for v in column) for column in zip(*series.values(), strict=True)] if series else []
    _integer_ticks(chart, totals)
    for name, points in series.items():
        chart.add(name, list(points))
    return _clean(chart.render(is_unicode=True))


# pygal scopes its stylesheet to one chart (`#chart-<uuid> .axis …`). Every chart here shares one style, so
# the scope becomes a class: a mail keeps the <style> inline, while a page (whose Content-Security-Policy
# refuses inline styles) drops it and links `stylesheet()` instead (reports:chart_css).
_SCOPE = re.compile(r"#chart-[0-9a-f-]{36}")
_STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.S)


def _clean(svg: str) -> str:
    svg = _SCRIPT.sub("", svg)
    svg = _SCOPE.sub(".cw-chart", svg)
    return svg.replace('class="pygal-chart"', 'class="pygal-chart cw-chart"', 1)


def for_page(svg: str) -> str:
    """The chart without its inline <style>, for a page that links `stylesheet()`; pygal's one style
    attribute becomes the equivalent presentation attribute, which the CSP allows."""
    return _STYLE_BLOCK.sub("", svg).replace('style="opacity: 0"', 'opacity="0"')


@functools.cache
def stylesheet() -> str:
    """The CSS every chart of this module uses (the same for lines and bars), read from a rendered chart."""
    blocks: list[str] = []
    for svg in (line("", ["a", "b"], {"x": [1, 2]}, target=1), bar("", ["a"], {"x": [1], "y": [2]})):
        for block in _STYLE_BLOCK.findall(svg):
            block = html.unescape(block)  # XML text in the SVG (`&gt;`), plain CSS in a stylesheet
            if block not in blocks:
                blocks.append(block)
    return "\n".join(blocks)
