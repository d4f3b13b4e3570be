"""Extension points of the case page, so apps (SLA, routing, insights, …) add their own panel without
editing the case template or view.

    register_case_panel("sla/_case_panel.html", context=lambda request, case: {"clocks": ...}, order=10)

A panel's context function runs once per case page render; keep it to a constant number of queries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CasePanel:
    template: str
    context: Callable[[Any, Any], dict]
    order: int = 100
    # "side" panels go in the right column; "main" panels above the timeline.
    placement: str = "side"


_panels: dict[str, CasePanel] = {}


def register_case_panel(
    template: str, *, context: Callable[[Any, Any], dict], order: int = 100, placement: str = "side"
) -> None:
    if placement not in ("side", "main"):
        raise ValueError("placement must be 'side' or 'main'")
    _panels[template] = CasePanel(template=template, context=context, order=order, placement=placement)


def render_panels(request, case) -> dict[str, list[dict]]:
    result: dict[str, list[dict]] = {"side": [], "main": []}
    for panel in sorted(_panels.values(), key=lambda p: (p.order, p.template)):
        result[panel.placement].append({"template": panel.template, **panel.context(request, case)})
    return result
