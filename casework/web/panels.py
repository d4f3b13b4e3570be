"""Extension points of the case page, so apps (SLA, routing, insights, …) add their own panel without
editing the case template or view.

    register_case_panel("sla/_case_panel.html", context=lambda request, case: {"clocks": ...}, order=10)

A panel's context function runs once per case page render; keep it to a constant number of queries.
A `deferred` panel (search-backed suggestions, whose cost grows with the install) is left out of the
page: a placeholder fetches it right after the page loads (`?part=panel&name=<app>`), so the timeline,
the reply box and the fields an agent needs first never wait for it.
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
    deferred: bool = False
    title: str = ""

    @property
    def name(self) -> str:
        """The app the panel comes from ("knowledge" for "knowledge/_case_panel.html")."""
        return self.template.split("/", 1)[0]


_panels: dict[str, CasePanel] = {}


def register_case_panel(
    template: str,
    *,
    context: Callable[[Any, Any], dict],
    order: int = 100,
    placement: str = "side",
    deferred: bool = False,
    title: str = "",
) -> None:
    if placement not in ("side", "main"):
        raise ValueError("placement must be 'side' or 'main'")
    _panels[template] = CasePanel(
        template=template, context=context, order=order, placement=placement, deferred=deferred, title=title
    )


def render_panels(request, case) -> dict[str, list[dict]]:
    """Every panel's context for the case page; a deferred panel gets only its placeholder."""
    result: dict[str, list[dict]] = {"side": [], "main": []}
    for panel in sorted(_panels.values(), key=lambda p: (p.order, p.template)):
        if panel.deferred:
            entry = {"template": "web/_deferred_panel.html", "name": panel.name, "title": panel.title}
        else:
            entry = {"template": panel.template, **panel.context(request, case)}
        result[panel.placement].append(entry)
    return result


def deferred_panel(name: str) -> CasePanel | None:
    return next((p for p in _panels.values() if p.deferred and p.name == name), None)
