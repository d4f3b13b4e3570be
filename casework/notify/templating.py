"""Rendering notification templates safely.

Admins write templates in Django template syntax, and a template is code: it must not reach anything
the notification did not mean to show. Three fences:

1. The context is plain data only (`plain()`): str, int, float, bool, None, dates and lists/dicts of
   them. No model instances, so `{{ case.customer.organisation.notes }}` or a method call cannot happen.
2. A dedicated template engine with no loaders and no libraries: `{% include %}`, `{% extends %}` and
   `{% load %}` fail.
3. Only the tags below are allowed (`check()`); `{% debug %}` (which would print the process's modules),
   `{% url %}`, `{% csrf_token %}` and friends are refused when the template is saved and when rendered.

Plain text is rendered without HTML escaping (a mail body is text); `to_html` makes the HTML alternative
by escaping that text.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from functools import lru_cache
from typing import Any

from django.template import Context, Engine, TemplateSyntaxError

ALLOWED_TAGS = frozenset(
    {
        "if", "elif", "else", "endif", "for", "empty", "endfor", "with", "endwith", "firstof",
        "spaceless", "endspaceless", "comment", "endcomment", "now", "cycle", "templatetag",
        "verbatim", "endverbatim", "widthratio", "filter", "endfilter", "ifchanged", "endifchanged",
    }
)  # fmt: skip
_TAG = re.compile(r"{%-?\s*(\w+)")
_URL = re.compile(r"(https?://[^\s<>\"]+)")


class TemplateProblem(ValueError):
    """A template that cannot be used: a syntax error or a tag outside ALLOWED_TAGS."""


@lru_cache(maxsize=1)
def engine() -> Engine:
    return Engine(debug=False, loaders=[], libraries={}, autoescape=False, string_if_invalid="")


@lru_cache(maxsize=512)
def _compile(source: str):
    for name in _TAG.findall(source):
        if name not in ALLOWED_TAGS:
            raise TemplateProblem(f"the tag {{% {name} %}} is not allowed in notification templates")
    try:
        return engine().from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(str(exc)) from exc


def check(source: str) -> None:
    """Raise TemplateProblem if `source` cannot be used (the admin's form calls this on save)."""
    _compile(source)


def plain(value: Any, *, path: str = "context") -> Any:
    """`value` if it is plain data all the way down; TypeError naming the offending key otherwise."""
    if value is None or isinstance(value, str | bool | int | float | dt.date | dt.datetime | dt.timedelta):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v, path=f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, path=f"{path}[{i}]") for i, v in enumerate(value)]
    raise TypeError(
        f"{path} is a {type(value).__name__}: notification contexts take plain values only "
        "(str, numbers, dates, lists and dicts of them)"
    )


def render(source: str, context: dict[str, Any]) -> str:
    """Render a template over a plain context (see `plain`)."""
    return _compile(source).render(Context(plain(context), autoescape=False))


def render_subject(source: str, context: dict[str, Any]) -> str:
    """A subject is one line: newlines a template produced are folded, whitespace squeezed."""
    return " ".join(render(source, context).split())[:400]


def to_html(text: str) -> str:
    """The HTML alternative of a plain-text body: escaped, links clickable, line breaks kept."""
    escaped = html.escape(text)
    linked = _URL.sub(lambda m: f'<a href="{m.group(1)}">{m.group(1)}</a>', escaped)
    return '<div style="font-family:sans-serif;line-height:1.45">' + linked.replace("\n", "<br>\n") + "</div>"
