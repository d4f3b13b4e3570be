# ruff: noqa: E501 — a template paragraph is one line on purpose: mail clients wrap it to the reader's width.
"""The notification kinds casework ships, with their default English templates.

The data migration `0004_seed_kinds` installs these as rows an admin edits (NotificationKind and
NotificationTemplate); the engine falls back to them when a row is missing (a freshly flushed test
database, a kind added by a newer version before its migration ran), so a notification never fails for
want of a template.

Template context (templating.py builds it; nothing else is reachable from a template):

    case        reference, subject, status, priority, summary (the request, shortened), url (the
                portal link for customers, the agent UI for agents)
    customer    name, email
    recipient   name
    support     address (the support mailbox), name ("Support")
    …           the kind's own values, listed with each kind below
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Who a kind goes to (NotificationKind.recipients), resolved by reactions.py / engine callers.
ROLES = frozenset({"customer", "assignee", "team_lead", "team", "mentioned", "notified"})


@dataclass(frozen=True)
class KindDefault:
    key: str
    label: str
    audience: str
    description: str
    channels: tuple[str, ...]
    recipients: tuple[str, ...]
    essential: bool = False
    subject: str = ""
    body: str = ""
    extra: tuple[str, ...] = field(default=())  # the kind's own context names, for the docs and admin


_SIGN_OFF = """
Kind regards,
{{ support.name }}"""

CUSTOMER_KINDS = (
    KindDefault(
        "acknowledgement",
        "Acknowledgement of a new case",
        "customer",
        "Sent when a person (never an auto-responder) opens a case.",
        ("email",),
        ("customer",),
        essential=True,
        extra=("first_response",),
        subject="[{{ case.reference }}] We have received your request: {{ case.subject }}",
        body="""Hello {{ customer.name }},

Thank you for getting in touch. We have received your request and opened case {{ case.reference }} for it.

Your request:
  {{ case.summary }}

{% if first_response %}{{ first_response }}{% else %}A member of our team will look at it and reply as soon as they can.{% endif %}

You can follow the case, add information or attach files here:
{{ case.url }}

Or simply reply to this email; please keep {{ case.reference }} in the subject.
"""
        + _SIGN_OFF,
    ),
    KindDefault(
        "awaiting_client",
        "We need something from you",
        "customer",
        "Sent when a case moves to Awaiting Client.",
        ("email",),
        ("customer",),
        essential=True,
        extra=("need", "reminder_days", "close_days"),
        subject="[{{ case.reference }}] We need a little more information from you",
        body="""Hello {{ customer.name }},

To carry on with case {{ case.reference }} ({{ case.subject }}) we need some information from you.
{% if need %}
{{ need }}
{% endif %}
Just reply to this email, or answer on the case page:
{{ case.url }}

If we have not heard from you in {{ reminder_days }} day{{ reminder_days|pluralize }}, we will send you a reminder. If there is still no answer after {{ close_days }} day{{ close_days|pluralize }}, we will close the case; you can reopen it at any time by replying.
"""
        + _SIGN_OFF,
    ),
    KindDefault(
        "awaiting_reminder",
        "Reminder: we are waiting for you",
        "customer",
        "Sent once when a case has waited on the customer for CASEWORK_AWAITING_REMINDER_DAYS.",
        ("email",),
        ("customer",),
        extra=("need", "days_waiting", "close_days_left"),
        subject="[{{ case.reference }}] Reminder: we are waiting for your reply",
        body="""Hello {{ customer.name }},

We asked for some information about case {{ case.reference }} ({{ case.subject }}) {{ days_waiting }} day{{ days_waiting|pluralize }} ago and have not heard back yet.
{% if need %}
What we asked:
{{ need }}
{% endif %}
Please reply to this email or answer on the case page:
{{ case.url }}

If we do not hear from you within {{ close_days_left }} day{{ close_days_left|pluralize }}, we will close the case. That is no problem: you can reopen it by replying.
"""
        + _SIGN_OFF,
    ),
    KindDefault(
        "awaiting_closed",
        "Closed after no answer",
        "customer",
        "Sent when a case waiting on the customer is closed after CASEWORK_AWAITING_CLOSE_DAYS.",
        ("email",),
        ("customer",),
        essential=True,
        extra=("days_waiting", "reopen_days"),
        subject="[{{ case.reference }}] We have closed your case",
        body="""Hello {{ customer.name }},

We have not heard from you about case {{ case.reference }} ({{ case.subject }}) for {{ days_waiting }} day{{ days_waiting|pluralize }}, so we have closed it for now.

If you still need help, just reply to this email within {{ reopen_days }} day{{ reopen_days|pluralize }} and the case reopens with everything we already know. After that, a reply starts a new case linked to this one.

{{ case.url }}
"""
        + _SIGN_OFF,
    ),
    KindDefault(
        "resolution",
        "Resolution summary",
        "customer",
        "Sent when a case is resolved.",
        ("email",),
        ("customer",),
        essential=True,
        extra=("resolution_note", "reopen_days", "close_days"),
        subject="[{{ case.reference }}] Your case has been resolved: {{ case.subject }}",
        body="""Hello {{ customer.name }},

Good news: we have resolved case {{ case.reference }} ({{ case.subject }}).
{% if resolution_note %}
How it was resolved:
{{ resolution_note }}
{% endif %}
If something is still not right, simply reply to this email within {{ reopen_days }} day{{ reopen_days|pluralize }} and the case reopens, or use the case page:
{{ case.url }}

The case closes automatically in {{ close_days }} day{{ close_days|pluralize }}. A reply after that opens a new case linked to this one, so nothing gets lost.
"""
        + _SIGN_OFF,
    ),
    KindDefault(
        "critical_update",
        "Update on a critical case",
        "customer",
        "Sent every CASEWORK_CRITICAL_UPDATE_HOURS while a critical case is open.",
        ("email",),
        ("customer",),
        extra=("update", "every_hours"),
        subject="[{{ case.reference }}] Update on your urgent case: {{ case.subject }}",
        body="""Hello {{ customer.name }},

We know case {{ case.reference }} ({{ case.subject }}) is urgent for you, so we are keeping you posted every {{ every_hours }} hour{{ every_hours|pluralize }} while we work on it.
{% if update %}
Latest update from our team:
{{ update }}
{% else %}
Our team is still working on it with top priority. We do not have news to share yet, and we will write again as soon as we do.
{% endif %}
You can follow the case here:
{{ case.url }}
"""
        + _SIGN_OFF,
    ),
    KindDefault(
        "csat_survey",
        "Satisfaction survey",
        "customer",
        "Sent on resolution by the CSAT app (context: ratings, a list of {score, label, url}; comment_url).",
        ("email",),
        ("customer",),
        extra=("ratings", "comment_url"),
        subject="[{{ case.reference }}] How did we do?",
        body="""Hello {{ customer.name }},

We recently resolved case {{ case.reference }} ({{ case.subject }}). How happy are you with the help you got? One click is enough:
{% for rating in ratings %}
  {{ rating.score }} – {{ rating.label }}: {{ rating.url }}{% endfor %}
{% if comment_url %}
Anything else you would like to tell us? {{ comment_url }}
{% endif %}"""
        + _SIGN_OFF,
    ),
    KindDefault(
        "portal_magic_link",
        "Sign-in link for the customer portal",
        "customer",
        "Sent by the portal when a customer asks to sign in (context: link, minutes).",
        ("email",),
        ("customer",),
        essential=True,
        extra=("link", "minutes"),
        subject="Your sign-in link",
        body="""Hello {{ customer.name }},

Here is your link to sign in and see your cases:
{{ link }}

It works once and for {{ minutes }} minute{{ minutes|pluralize }}. If you did not ask for it, you can ignore this email.
"""
        + _SIGN_OFF,
    ),
)

_CASE_LINE = (
    "{{ case.reference }} · {{ case.subject }} · {{ case.priority }} · {{ case.status }}\n{{ case.url }}"
)

AGENT_KINDS = (
    KindDefault(
        "new_in_queue",
        "New case in my team's queue",
        "agent",
        "A new, unassigned case lands in a team's queue.",
        ("inapp", "slack"),
        ("team",),
        extra=("team",),
        subject="New case in {{ team }}: {{ case.reference }} {{ case.subject }}",
        body="A new case is waiting in the {{ team }} queue.\n\n" + _CASE_LINE,
    ),
    KindDefault(
        "assigned",
        "Assigned to me",
        "agent",
        "A case is assigned to an agent (not when they take it themselves).",
        ("inapp", "email"),
        ("assignee",),
        essential=True,
        extra=("by", "reason"),
        subject="Assigned to you: {{ case.reference }} {{ case.subject }}",
        body="{{ by }} assigned this case to you.{% if reason %}\nWhy: {{ reason }}{% endif %}\n\n"
        + _CASE_LINE,
    ),
    KindDefault(
        "customer_replied",
        "Customer replied on my case",
        "agent",
        "The customer wrote on a case the agent owns.",
        ("inapp", "email"),
        ("assignee",),
        extra=("excerpt",),
        subject="{{ customer.name }} replied on {{ case.reference }}",
        body="{{ customer.name }} wrote:\n\n{{ excerpt }}\n\n" + _CASE_LINE,
    ),
    KindDefault(
        "mentioned",
        "Mentioned in a note or reply",
        "agent",
        "An agent's internal note or reply names the agent with @username.",
        ("inapp", "email"),
        ("mentioned",),
        extra=("by", "excerpt", "where"),
        subject="{{ by }} mentioned you on {{ case.reference }}",
        body="{{ by }} mentioned you in {{ where }}:\n\n{{ excerpt }}\n\n" + _CASE_LINE,
    ),
    KindDefault(
        "sla_at_risk",
        "SLA at risk",
        "agent",
        "A clock entered its at-risk window (the owner and the team lead).",
        ("inapp", "email", "slack"),
        ("notified",),
        essential=True,
        extra=("metric", "left", "due"),
        subject="SLA at risk: {{ case.reference }} {{ metric }} due {{ due }} ({{ left }} left)",
        body="The {{ metric|lower }} of {{ case.reference }} is due {{ due }}: {{ left }} left.\n\n"
        + _CASE_LINE,
    ),
    KindDefault(
        "sla_breached",
        "SLA breached",
        "agent",
        "A clock passed its due time (the owner and the team lead).",
        ("inapp", "email", "slack"),
        ("notified",),
        essential=True,
        extra=("metric", "due"),
        subject="SLA breached: {{ case.reference }} {{ metric }} was due {{ due }}",
        body="The {{ metric|lower }} of {{ case.reference }} was due {{ due }} and is now overdue.\n\n"
        + _CASE_LINE,
    ),
    KindDefault(
        "escalated",
        "Escalated to me",
        "agent",
        "A case moved to the agent's tier: its new owner, or the new team's lead while nobody owns it.",
        ("inapp", "email", "slack"),
        ("assignee", "team_lead"),
        essential=True,
        extra=("tier", "by", "handoff_note"),
        subject="Escalated to {{ tier }}: {{ case.reference }} {{ case.subject }}",
        body="{{ by }} escalated this case to {{ tier }}.{% if handoff_note %}\n\nHandoff note:\n{{ handoff_note }}{% endif %}\n\n"
        + _CASE_LINE,
    ),
    KindDefault(
        "critical_update_due",
        "Customer update due on a critical case",
        "agent",
        "The owner is reminded before the customer's proactive update goes out.",
        ("inapp", "email"),
        ("assignee",),
        essential=True,
        extra=("minutes",),
        subject="Update due in {{ minutes }} min: {{ case.reference }} {{ case.subject }}",
        body="{{ case.reference }} is critical. The customer gets an automatic update in {{ minutes }} minutes. "
        "Add a public reply before then so it carries real news; otherwise they get a holding message.\n\n"
        + _CASE_LINE,
    ),
    KindDefault(
        "low_csat",
        "Low satisfaction score",
        "agent",
        "Sent by the CSAT app to the team lead (context: score, comment, review_url).",
        ("inapp", "email"),
        ("team_lead",),
        extra=("score", "comment", "review_url"),
        subject="Low CSAT ({{ score }}/5) on {{ case.reference }}",
        body="{{ customer.name }} rated {{ case.reference }} {{ score }}/5.{% if comment %}\n\n\u201c{{ comment }}\u201d{% endif %}"
        "{% if review_url %}\n\nReview: {{ review_url }}{% endif %}\n\n" + _CASE_LINE,
    ),
    KindDefault(
        "rule_alert",
        "Alert from a triage rule",
        "agent",
        "A triage rule's notify action.",
        ("inapp", "email"),
        ("notified",),
        extra=("rule", "message"),
        subject="{{ rule }}: {{ case.reference }} {{ case.subject }}",
        body="{{ message }}\n\n" + _CASE_LINE,
    ),
    KindDefault(
        "digest",
        "Daily digest",
        "agent",
        "One email a day with the notifications of agents who chose a digest (context: items).",
        ("email",),
        (),
        essential=True,
        extra=("items", "count"),
        subject="casework: {{ count }} notification{{ count|pluralize }} since your last digest",
        body="""Hello {{ recipient.name }},

Here is what happened on your cases:
{% for item in items %}
- {{ item.when }}  {{ item.title }}
  {{ item.url }}{% endfor %}
""",
    ),
)

DEFAULTS: dict[str, KindDefault] = {k.key: k for k in (*CUSTOMER_KINDS, *AGENT_KINDS)}


def install_kinds(kind_model, template_model) -> int:
    """Give every registered kind (the shipped ones and those apps add to DEFAULTS at start-up) its
    editable row and English email template; rows an admin already has are left as they are. Used by the
    seed migration (historical models) and after every `migrate` (so a kind an app registers later gets
    its row too). Returns how many kinds were added."""
    added = 0
    for d in DEFAULTS.values():
        kind, created = kind_model.objects.get_or_create(
            key=d.key,
            defaults={
                "label": d.label,
                "audience": d.audience,
                "description": d.description,
                "essential": d.essential,
                "channels": list(d.channels),
                "recipients": list(d.recipients),
            },
        )
        added += created
        template_model.objects.get_or_create(
            kind=kind, channel="email", language="", defaults={"subject": d.subject, "body": d.body}
        )
    return added
