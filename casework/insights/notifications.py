# ruff: noqa: E501 — a template paragraph is one line on purpose: mail clients wrap it to the reader's width.
"""The notification kinds insights sends, registered as defaults of the notify engine (an admin may add
rows to edit them; the engine falls back to these, see notify/kinds.py)."""

from casework.notify.kinds import DEFAULTS, KindDefault

_CASE_LINE = "{{ case.reference }} · {{ case.subject }}\n{{ case.url }}"
_SIGN_OFF = "\n\nKind regards,\n{{ support.name }}"

KINDS = (
    KindDefault(
        "duplicate_merged",
        "Your request was merged with another",
        "customer",
        "An agent merged a duplicate case into the case that carries on (context: duplicate, into).",
        ("email",),
        ("customer",),
        essential=True,
        extra=("duplicate", "into"),
        subject="[{{ into }}] Your request {{ duplicate }} continues as {{ into }}",
        body="Hello {{ customer.name }},\n\nYour request {{ duplicate }} is about the same thing as {{ into }}, "
        "so we have merged them: everything you sent is now on {{ into }} and we will answer there. "
        "Both references keep working.\n\n" + _CASE_LINE + _SIGN_OFF,
    ),
    KindDefault(
        "possible_incident",
        "Possible incident: similar cases piling up",
        "agent",
        "A cluster of similar cases reached the incident threshold (context: count, hours, label, "
        "references, url).",
        ("inapp", "email"),
        ("team_lead",),
        essential=True,
        extra=("count", "hours", "label", "references", "url"),
        subject="Possible incident: {{ count }} similar cases in {{ hours }} h ({{ label }})",
        body="{{ count }} similar cases arrived within {{ hours }} hours: {{ label }}.\n\n"
        "{% for r in references %}- {{ r }}\n{% endfor %}\nTurn it into a problem: {{ url }}",
    ),
    KindDefault(
        "problem_resolved",
        "The cause of your request was fixed",
        "customer",
        "A problem linked to the case was resolved (context: problem, note).",
        ("email",),
        ("customer",),
        essential=True,
        extra=("problem", "note"),
        subject="[{{ case.reference }}] Fixed: {{ problem }}",
        body="Hello {{ customer.name }},\n\nThe issue behind your request {{ case.reference }} has been fixed."
        "\n\n{{ note }}\n\nIf anything still does not work, simply reply to this email.\n\n"
        + _CASE_LINE
        + _SIGN_OFF,
    ),
    KindDefault(
        "engineering_issue_closed",
        "Engineering issue closed",
        "agent",
        "A linked Jira/GitHub issue was closed or released (context: key, issue_state, url, cases).",
        ("inapp", "email"),
        ("notified",),
        essential=True,
        extra=("key", "issue_state", "url", "cases"),
        subject="{{ key }} is {{ issue_state }}: {{ cases }} linked case{{ cases|pluralize }} can be resolved",
        body="{{ key }} was {{ issue_state }}. Resolve the linked cases in one step: {{ url }}",
    ),
)

for _kind in KINDS:
    DEFAULTS.setdefault(_kind.key, _kind)
