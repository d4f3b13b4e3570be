"""The project's form renderer (settings.FORM_RENDERER): Django's, except that a `<select>` and its options
are written in Python.

Django renders a select through one template per option plus one per option's attributes: ~70 µs per
option. The case page's reassign, hand-off and task forms list every agent, so at 100 agents that was
~17 ms of a 64 ms page (measured at 1,000,000 cases, `bench/bench_scale.py`). The output is the same
markup (`test_form_renderer.py` compares it with Django's templates), escaped the same way; a select
whose options use another template (a custom widget) still goes through the templates.
"""

from __future__ import annotations

from typing import Any

from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

SELECT = "django/forms/widgets/select.html"
OPTION = "django/forms/widgets/select_option.html"


def _attrs(attrs: dict[str, Any]) -> str:
    # django/forms/widgets/attrs.html: False leaves the attribute out, True writes it bare.
    out = []
    for name, value in attrs.items():
        if value is False:
            continue
        if value is True:
            out.append(f" {conditional_escape(name)}")
        else:
            out.append(f' {conditional_escape(name)}="{conditional_escape(str(value))}"')
    return "".join(out)


def select_html(widget: dict[str, Any]) -> str:
    parts = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
        for option in options:
            parts.append(
                f'\n  <option value="{conditional_escape(str(option["value"]))}"{_attrs(option["attrs"])}>'
                f"{conditional_escape(option['label'])}</option>"
            )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return mark_safe("".join(parts))  # every value above is escaped


class FormRenderer(DjangoTemplates):
    def render(self, template_name, context, request=None):
        widget = context.get("widget") if template_name == SELECT else None
        if widget is not None and all(
            option.get("template_name") == OPTION
            for _, options, _ in widget["optgroups"]
            for option in options
        ):
            return select_html(widget)
        return super().render(template_name, context, request)
