"""The Python-written <select> gives the markup Django's templates give, for every shape of select."""

from __future__ import annotations

import re

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils.safestring import mark_safe

from casework.core.form_renderer import FormRenderer


def _norm(html: str) -> str:
    return re.sub(r"\s+", " ", html).replace("> <", "><").strip()


class Shapes(forms.Form):
    plain = forms.ChoiceField(choices=[("a", "Alpha"), ("b", "Beta & <Gamma>")])
    optional = forms.ChoiceField(required=False, choices=[("", "—"), ("x", 'Say "hi"')])
    grouped = forms.ChoiceField(
        choices=[
            ("Europe", [("de", "Germany"), ("fr", "France")]),
            ("Asia", [("jp", "Japan")]),
            ("xx", "None"),
        ]
    )
    many = forms.MultipleChoiceField(choices=[(1, "one"), (2, "two"), (3, "three")])
    typed = forms.TypedChoiceField(choices=[(1, "L1"), (2, "L2")], coerce=int)
    attrs = forms.ChoiceField(
        choices=[("k", mark_safe("<b>safe</b>"))],
        widget=forms.Select(attrs={"data-keynav": True, "hidden": False, "title": "A 'title' & more"}),
    )


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"plain": "b", "optional": "x", "grouped": "fr", "many": ["1", "3"], "typed": "2", "attrs": "k"},
        {"plain": "<script>", "grouped": "nope"},
    ],
)
def test_same_markup_as_django(data, monkeypatch):
    templated = []
    monkeypatch.setattr(DjangoTemplates, "render", lambda self, name, *a, **k: templated.append(name) or "")
    ours = {name: str(Shapes(data or None, renderer=FormRenderer())[name]) for name in Shapes.base_fields}
    assert templated == []  # every select above took the Python path
    monkeypatch.undo()
    django = Shapes(data or None, renderer=DjangoTemplates())
    for name in Shapes.base_fields:
        a, b = ours[name], str(django[name])
        assert _norm(a) == _norm(b), name
        assert "<select" in a


def test_escapes_what_the_templates_escape():
    html = str(Shapes(renderer=FormRenderer())["plain"])
    assert "Beta &amp; &lt;Gamma&gt;" in html and "<Gamma>" not in html
    assert "<b>safe</b>" in str(Shapes(renderer=FormRenderer())["attrs"])  # a safe label stays as given


def test_a_custom_option_template_goes_through_the_templates():
    class Custom(forms.Select):
        option_template_name = "django/forms/widgets/radio_option.html"

    class F(forms.Form):
        c = forms.ChoiceField(choices=[("a", "A")], widget=Custom)

    assert _norm(str(F(renderer=FormRenderer())["c"])) == _norm(str(F(renderer=DjangoTemplates())["c"]))


def test_the_project_uses_it(settings):
    from django.forms.renderers import get_default_renderer

    get_default_renderer.cache_clear()
    assert isinstance(get_default_renderer(), FormRenderer)
