from django import forms

from .links import LABELS
from .models import ReviewOutcome


class CommentForm(forms.Form):
    score = forms.TypedChoiceField(
        label="Your rating",
        choices=[(s, f"{s} – {LABELS[s]}") for s in range(5, 0, -1)],
        coerce=int,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label="Anything you would like to tell us? (optional)",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
    )


class CloseReviewForm(forms.Form):
    outcome = forms.ChoiceField(label="Outcome", choices=[("", "Choose…"), *ReviewOutcome.choices])
    note = forms.CharField(label="Note", max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
