"""`{{ svg|page_chart }}`: a chart for a page, its style left to the linked chart stylesheet."""

from __future__ import annotations

from django import template
from django.utils.safestring import mark_safe

from casework.reports import charts

register = template.Library()


@register.filter
def page_chart(svg: str) -> str:
    return mark_safe(charts.for_page(svg))
