from __future__ import annotations

import time

from django import forms
from django.conf import settings
from django.core import signing

from casework.cases.models import Category

TIME_TRAP_SALT = "casework.portal.webform.started"
# A form older than this is stale (the time stamp is re-issued when the form is shown again).
TIME_TRAP_MAX_AGE = 24 * 3600
MAX_FILES = 5


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented recipe)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if not data:
            return []
        files = data if isinstance(data, (list, tuple)) else [data]
        if len(files) > MAX_FILES:
            raise forms.ValidationError(f"Attach at most {MAX_FILES} files.")
        limit = settings.CASEWORK["MAX_ATTACHMENT_BYTES"]
        for item in files:
            if item.size > limit:
                raise forms.ValidationError(
                    f"{item.name} is larger than {limit // (1024 * 1024)} MB; "
                    "please leave it out or shrink it."
                )
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class SignInForm(forms.Form):
    email = forms.EmailField(
        label="Your email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )


class ReplyForm(forms.Form):
    body = forms.CharField(
        label="Your reply",
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=50_000,
    )
    attachments = MultipleFileField(label="Attach files")


class ReopenForm(forms.Form):
    reason = forms.CharField(label="What still needs doing?", required=False, max_length=1000)


def time_stamp() -> str:
    return signing.dumps(time.time(), salt=TIME_TRAP_SALT)


def _categories():
    return [("", "Not sure")] + [
        (c.slug, c.name) for c in Category.objects.filter(active=True).order_by("name")
    ]


class WebForm(forms.Form):
    """The public web form. `website` is the honeypot (hidden from people, filled by bots); `started` is
    the signed time the form was shown (the time trap)."""

    name = forms.CharField(
        label="Your name", max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = forms.EmailField(
        label="Your email address", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    subject = forms.CharField(label="Subject", max_length=300)
    description = forms.CharField(
        label="How can we help?",
        widget=forms.Textarea(attrs={"rows": 7}),
        max_length=50_000,
        help_text="What happened, what you expected, and any error message you saw.",
    )
    category = forms.ChoiceField(label="Topic", required=False)
    attachments = MultipleFileField(label="Attach files (optional)")
    website = forms.CharField(
        label="Leave this field empty",
        required=False,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )
    started = forms.CharField(widget=forms.HiddenInput)
    # The knowledge base's deflection session for this visit (suggestions shown/opened, then sent).
    suggestion_session = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = _categories()
        self.trap = ""

    def clean(self):
        data = super().clean()
        if data.get("website"):
            self.trap = "honeypot"
            raise forms.ValidationError(
                "Please leave the field “Leave this field empty” empty and send the form again.",
                code="honeypot",
            )
        try:
            started = float(
                signing.loads(data.get("started", ""), salt=TIME_TRAP_SALT, max_age=TIME_TRAP_MAX_AGE)
            )
        except (signing.BadSignature, TypeError, ValueError):
            self.trap = "stale"
            raise forms.ValidationError(
                "This form was open too long or came from elsewhere; please check it and send it again.",
                code="stale",
            ) from None
        if time.time() - started < settings.CASEWORK["WEBFORM_MIN_SECONDS"]:
            self.trap = "too_fast"
            raise forms.ValidationError(
                "That was very quick — please check your request and send it again.", code="too_fast"
            )
        return data
