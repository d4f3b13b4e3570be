"""The insights panel on the case page: possible duplicates (merge / not a duplicate), the problems the
case is linked to, and its engineering links."""

from casework.web.panels import register_case_panel

from .models import LinkSystem, ProblemCase
from .selectors import suggestions_for


def case_panel_context(request, case) -> dict:
    return {
        "duplicates": suggestions_for(case),
        "problems": list(
            ProblemCase.objects.filter(case=case).exclude(state="rejected").select_related("problem")
        ),
        "links": list(case.engineering_links.all()),
        "systems": LinkSystem.choices,
    }


register_case_panel("insights/_case_panel.html", context=case_panel_context, order=3, placement="main")
