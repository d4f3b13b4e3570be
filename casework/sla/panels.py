"""The SLA panel on the case page (clocks, due times, the ledger that explains them)."""

from casework.web.panels import register_case_panel

from .selectors import case_panel_context

register_case_panel("sla/_case_panel.html", context=case_panel_context, order=10)
