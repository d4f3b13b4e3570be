"""The knowledge panel on the case page: suggested articles and similar resolved cases (each insertable
into the reply), the macro picker, and "write an article" on a resolved case."""

from casework.web.panels import register_case_panel

from . import services, suggest


def case_panel_context(request, case) -> dict:
    found = suggest.for_case(case)
    return {
        "articles": found["articles"],
        "similar": found["similar"],
        "macros": list(services.macros_for(request.user)),
        "can_write_article": case.status in ("resolved", "closed"),
    }


# Deferred: two full-text searches (articles, similar resolved cases) whose cost grows with the install.
register_case_panel(
    "knowledge/_case_panel.html", context=case_panel_context, order=5, deferred=True, title="Reply helpers"
)
