"""Forms for the agent workspace: they parse and validate input; the views hand clean data to services."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from casework.cases.models import Category
from casework.cases.status import Channel, Priority, Tier
from casework.core import config
from casework.people.models import Team


def agent_choices() -> list[tuple[str, str]]:
    """The agent pickers' options, read once per configuration version (users and agent profiles are
    watched for the columns shown here: cases migration 0014)."""
    return list(config.cached("agent-choices", _load_agent_choices))


def _load_agent_choices() -> list[tuple[str, str]]:
    users = (
        get_user_model()
        .objects.filter(is_active=True, agent__isnull=False)
        .order_by("first_name", "username")
    )
    return [("", "— unassigned —")] + [(u.username, u.get_full_name() or u.username) for u in users]


class ReplyForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), max_length=200_000)
    internal = forms.BooleanField(required=False)
    set_status = forms.CharField(required=False)
    seen_message_id = forms.IntegerField(required=False, min_value=0)
    confirm_collision = forms.BooleanField(required=False)
    # Composer extras (casework/knowledge): a macro picked in the side panel, CC addresses.
    macro = forms.IntegerField(required=False, min_value=1)
    cc = forms.CharField(required=False, max_length=2000)
    # A proposed draft (casework/knowledge/drafting.py) the reply started from: sent as is, or edited.
    draft = forms.IntegerField(required=False, min_value=1)


class TransitionForm(forms.Form):
    to = forms.CharField(max_length=30)
    reason = forms.CharField(required=False, max_length=2000)


class CaseFieldsForm(forms.Form):
    priority = forms.ChoiceField(choices=Priority.choices)
    category = forms.ChoiceField(required=False)
    team = forms.ChoiceField(required=False)
    assignee = forms.ChoiceField(required=False)
    reason = forms.CharField(required=False, max_length=2000)

    def __init__(
        self,
        *args,
        agents: list[tuple[str, str]] | None = None,
        teams: list[Team] | None = None,
        categories: list[Category] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        if categories is None:
            categories = list(Category.objects.filter(active=True))
        if teams is None:
            teams = list(Team.objects.all())
        self.fields["category"].choices = [("", "— none —")] + [(c.slug, c.name) for c in categories]
        self.fields["team"].choices = [("", "— no team —")] + [(str(t.pk), t.name) for t in teams]
        self.fields["assignee"].choices = agents if agents is not None else agent_choices()


class EscalateForm(forms.Form):
    to_tier = forms.TypedChoiceField(choices=Tier.choices, coerce=int)
    # Empty: the team that serves the chosen tier.
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    handoff_note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=10_000)
    reason = forms.CharField(required=False, max_length=500)


class TaskForm(forms.Form):
    title = forms.CharField(max_length=300)
    owner = forms.ChoiceField(required=False)
    due_at = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    def __init__(self, *args, agents: list[tuple[str, str]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # `agents`: the list a page already made for another form (one query per page, not per form).
        self.fields["owner"].choices = agents if agents is not None else agent_choices()


class AttachmentForm(forms.Form):
    file = forms.FileField()


class MergeForm(forms.Form):
    target = forms.CharField(max_length=20, help_text="Reference of the case that carries on, e.g. CW-000123")
    reason = forms.CharField(required=False, max_length=500)


class TagsForm(forms.Form):
    add = forms.CharField(required=False, max_length=200)
    remove = forms.CharField(required=False, max_length=50)


class NewCaseForm(forms.Form):
    customer_email = forms.EmailField()
    customer_name = forms.CharField(required=False, max_length=200)
    subject = forms.CharField(max_length=300)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), max_length=200_000)
    channel = forms.ChoiceField(choices=[(c, lbl) for c, lbl in Channel.choices if c != Channel.PHONE])
    priority = forms.ChoiceField(
        choices=[("", "— let triage decide —"), *Priority.choices],
        required=False,
        help_text="Leave empty and the triage rules choose from the playbook criteria.",
    )
    category = forms.ChoiceField(required=False)

    def __init__(self, *args, agents: list[tuple[str, str]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", "— let triage decide —")] + [
            (c.slug, c.name) for c in Category.objects.filter(active=True)
        ]


class CallForm(forms.Form):
    customer_email = forms.EmailField(required=False, help_text="If the caller has one.")
    customer_name = forms.CharField(required=False, max_length=200)
    customer_phone = forms.CharField(required=False, max_length=50)
    direction = forms.ChoiceField(
        choices=[("inbound", "Inbound (customer called us)"), ("outbound", "Outbound")]
    )
    duration_minutes = forms.IntegerField(min_value=0, max_value=24 * 60, initial=5)
    case_reference = forms.CharField(
        required=False, max_length=20, help_text="Leave empty to open a new case for this call."
    )
    subject = forms.CharField(required=False, max_length=300)
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), max_length=100_000)
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.MEDIUM)

    def clean(self) -> dict:
        data = super().clean()
        if not (data.get("customer_email") or data.get("customer_phone") or data.get("case_reference")):
            # A caller may have no email address; a phone number or the case they call about is enough.
            raise forms.ValidationError(
                "Give the caller's email address or phone number (or the case they are calling about)."
            )
        return data


class CustomerForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    email = forms.EmailField(required=False)
    phone = forms.CharField(required=False, max_length=50)
    organisation = forms.ModelChoiceField(queryset=None, required=False, empty_label="— no organisation —")
    external_id = forms.CharField(label="CRM id", required=False, max_length=100)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)
    reason = forms.CharField(required=False, max_length=500)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from casework.people.models import Organisation

        self.fields["organisation"].queryset = Organisation.objects.order_by("name")
