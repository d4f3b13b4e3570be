"""The routing panel on the case page (tier history, watchers, the Auto-assign button)."""

from casework.web.panels import register_case_panel

from .selectors import case_panel_context

register_case_panel("routing/_case_panel.html", context=case_panel_context, order=20)
