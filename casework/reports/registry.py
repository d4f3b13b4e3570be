"""The metric registry: every metric a report, the dashboard, the API or a scheduled mail can show.

A metric is a name, a title, its written definition (shown as a tooltip beside the figure and kept in
`docs/metrics.md`) and a function from a `ReportFilter` (+ options) to tables. The built-in metrics are in
`metrics.py`. Another app adds its own from a `reports.py` module of its package, imported at start-up
(`discover`): the CSAT app (`casework/csat/`) registers `csat` — replacing the placeholder that says "No CSAT
data yet" — and may give it a `headline` (the average for a range) for the dashboard tile; the knowledge base
does the same for `kb_deflection`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from importlib.util import find_spec
from typing import Any

from django.apps import apps

from casework.core.errors import NotFound

from .filters import ReportFilter


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    # text | count | percent | seconds (a duration) | datetime | date | case (a reference, linked)
    kind: str = "text"
    help: str = ""


@dataclass
class Table:
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    note: str = ""
    empty: str = "No cases in this range."
    # Optional chart: ("line" | "bar", x column key, [y column keys]).
    chart: tuple[str, str, list[str]] | None = None
    slug: str = ""


@dataclass(frozen=True)
class Option:
    name: str
    label: str
    choices: tuple[tuple[str, str], ...]
    default: str


@dataclass(frozen=True)
class MetricDef:
    name: str
    title: str
    definition: str
    compute: Callable[..., list[Table]]
    section: str = "Cases"
    options: tuple[Option, ...] = ()
    # A single figure for a range (dashboard tiles, the weekly mail), where the metric has one.
    headline: Callable[[ReportFilter], float | None] | None = None
    unit: str = ""
    # False for a placeholder that only says the data is not there yet.
    available: bool = True
    unavailable: str = ""

    def run(self, f: ReportFilter, options: dict[str, str] | None = None) -> list[Table]:
        if not self.available:
            return [Table(title=self.title, columns=[], rows=[], empty=self.unavailable)]
        chosen = {o.name: o.default for o in self.options}
        for o in self.options:
            value = (options or {}).get(o.name)
            if value in {c for c, _ in o.choices}:
                chosen[o.name] = value
        return self.compute(f, **chosen)


_metrics: dict[str, MetricDef] = {}


def register(metric: MetricDef) -> MetricDef:
    """Add or replace a metric (a real one replaces a placeholder of the same name)."""
    existing = _metrics.get(metric.name)
    if existing is not None and existing.available and not metric.available:
        return existing  # a placeholder never hides the real metric, whatever the import order
    _metrics[metric.name] = metric
    return metric


def placeholder(
    name: str, title: str, definition: str, unavailable: str, *, section: str, unit: str = ""
) -> None:
    register(
        MetricDef(
            name=name,
            title=title,
            definition=definition,
            compute=lambda f, **_: [],
            section=section,
            unit=unit,
            available=False,
            unavailable=unavailable,
        )
    )


def get(name: str) -> MetricDef:
    try:
        return _metrics[name]
    except KeyError:
        raise NotFound(
            f"No metric named '{name}'", code="unknown_metric", details={"known": sorted(_metrics)}
        ) from None


def all_metrics() -> list[MetricDef]:
    return list(_metrics.values())


def discover() -> None:
    """Import `<app>.reports` for every installed casework app that has one."""
    for config in apps.get_app_configs():
        if not config.name.startswith("casework.") or config.name == "casework.reports":
            continue
        module = f"{config.name}.reports"
        if find_spec(module) is not None:
            import_module(module)
