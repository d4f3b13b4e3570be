"""The case timeline in words an agent would write: names instead of usernames and slugs, human field
labels, one sentence per decision, nothing for events that changed nothing.

`describe(event, names)` is pure: it reads an event's kind, actor, old/new values, reason and data and
returns a `Line` (or None when the event says nothing a person needs). `render(entries, names)` walks a
case's timeline in order and drops what was already said: a rule's explanation is written once, on the
rule's own line, and the changes it made only say what changed; an automatic hand-off note that repeats
the rule is not shown again. `Names` turns usernames, category slugs and custom field keys into what
people call them; `names_for(events)` reads them with one query each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from casework.cases.status import Channel, Priority, Status

PRIORITY_ORDER = {"low": 0, "medium": 1, "high": 2, "critical": 3}

# Labels of the non-person actors the services write (`CaseEvent.actor_label`).
SYSTEM_ACTORS = {
    "system": "casework",
    "triage": "Triage",
    "routing": "Routing",
    "sla": "SLA",
    "sentiment": "Mood check",
    "email": "Email delivery",
    "api": "API",
    "test": "casework",
}


@dataclass(frozen=True)
class Names:
    """What people call things: username → full name, category slug → name, custom field key → label."""

    users: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)

    def user(self, username: Any) -> str:
        if not username:
            return "nobody"
        return self.users.get(str(username), str(username))

    def category(self, slug: Any) -> str:
        if not slug:
            return "none"
        return self.categories.get(str(slug), str(slug).replace("_", " ").replace("-", " ").capitalize())

    def field_label(self, key: str) -> str:
        return self.fields.get(key, key.replace("_", " ").capitalize())


@dataclass
class Line:
    """One timeline entry for an event. `automated` lines are decisions casework made (rules, routing,
    SLA); `why` is the explanation, `detail` a quoted text (a hand-off note, a reason)."""

    who: str
    text: str
    why: str = ""
    detail: str = ""
    link: str = ""  # a case reference the line points to
    automated: bool = False
    rule: str = ""  # the rule that decided it, if one did


def _label(enum, value: Any) -> str:
    try:
        return enum(value).label
    except ValueError:
        return str(value)


def status_label(value: Any) -> str:
    return _label(Status, value)


def priority_label(value: Any) -> str:
    return _label(Priority, value)


def actor_name(event: Any, names: Names) -> tuple[str, bool]:
    """(who, automated) for an event: a person's name, "Rule ‘Outage’", "Routing", a customer."""
    user = getattr(event, "actor", None)
    if getattr(event, "actor_id", None) and user is not None:
        return (user.get_full_name() or user.username), False
    label = (getattr(event, "actor_label", "") or "").strip()
    if label.startswith("rule:"):
        return f"Rule ‘{label[5:]}’", True
    if label.startswith("customer:"):
        return label[9:], False
    if label.lower() in SYSTEM_ACTORS:
        return SYSTEM_ACTORS[label.lower()], True
    if not label:
        return "casework", True
    return label, not label.endswith("(customer)")


def _from_to(old: str, new: str) -> str:
    return f"from {old} to {new}"


def _tags(old: Any, new: Any) -> str:
    before, after = set(old or []), set(new or [])
    added, removed = sorted(after - before), sorted(before - after)
    parts = []
    if added:
        parts.append("added " + ("tag " if len(added) == 1 else "tags ") + ", ".join(f"#{t}" for t in added))
    if removed:
        parts.append(
            "removed " + ("tag " if len(removed) == 1 else "tags ") + ", ".join(f"#{t}" for t in removed)
        )
    return " and ".join(parts)


def _value(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value in (None, "", [], {}):
        return "empty"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _field_changes(old: Any, new: Any, names: Names) -> str:
    old, new = old or {}, new or {}
    parts = []
    if "subject" in new:
        parts.append(f"renamed the case from “{old.get('subject', '')}” to “{new['subject']}”")
    if "custom_fields" in new:
        before, after = old.get("custom_fields") or {}, new.get("custom_fields") or {}
        for key in sorted(set(before) | set(after)):
            if before.get(key) == after.get(key):
                continue
            label = names.field_label(key)
            if key not in after:
                parts.append(f"cleared {label}")
            elif key not in before:
                parts.append(f"set {label} to {_value(after[key])}")
            else:
                parts.append(f"changed {label} from {_value(before[key])} to {_value(after[key])}")
    return "; ".join(parts)


_NOTIFIED = re.compile(r" — notified [^—]*$")


def _sla_text(event: Any, names: Names) -> str:
    reason = (event.reason or "").strip()
    notified = (event.data or {}).get("notified")
    if notified:
        reason = _NOTIFIED.sub("", reason) + " — told " + ", ".join(names.user(u) for u in notified)
    return reason


def _rule_explanation(text: str) -> str:
    """ "rule 'Outage' matched: text contains …" → "matched: text contains …" (the rule is the actor)."""
    return re.sub(r"^rule '[^']*' ", "", text or "").strip()


def describe(event: Any, names: Names) -> Line | None:
    kind = event.kind
    old, new, data = event.old, event.new, event.data or {}
    reason = (event.reason or "").strip()
    who, automated = actor_name(event, names)
    rule = data.get("rule", "") if isinstance(data, dict) else ""
    why = data.get("explanation", "") if isinstance(data, dict) else ""
    line = Line(who=who, text="", why=why, automated=automated, rule=rule)
    if why and reason == why:
        reason = ""  # the explanation says it

    if kind == "opened":
        channel = _label(Channel, (new or {}).get("channel", "")) if isinstance(new, dict) else ""
        line.text = f"opened the case by {channel.lower()}" if channel else "opened the case"
    elif kind == "first_response":
        line.text = "sent the first response"
    elif kind == "status_changed":
        line.text = f"changed the status {_from_to(status_label(old), status_label(new))}"
        line.detail = reason
    elif kind == "assigned":
        if not new:
            line.text = f"unassigned the case (was {names.user(old)})"
        elif getattr(event, "actor_id", None) and getattr(event.actor, "username", None) == new:
            line.text = "took the case" if not old else f"took the case over from {names.user(old)}"
        elif getattr(event, "actor_id", None) and getattr(event.actor, "username", None) == old:
            line.text = f"handed the case over to {names.user(new)}"
        elif old:
            line.text = f"reassigned the case {_from_to(names.user(old), names.user(new))}"
        else:
            line.text = f"assigned the case to {names.user(new)}"
        line.detail = reason
    elif kind == "team_changed":
        line.text = f"moved the case to {new or 'no team'}" + (f" (from {old})" if old else "")
        line.detail = reason
    elif kind == "priority_changed":
        verb = "raised" if PRIORITY_ORDER.get(new, 0) > PRIORITY_ORDER.get(old, 0) else "lowered"
        line.text = f"{verb} the priority {_from_to(priority_label(old), priority_label(new))}"
        line.detail = reason
    elif kind == "category_changed":
        if old:
            line.text = f"changed the category {_from_to(names.category(old), names.category(new))}"
        else:
            line.text = f"set the category to {names.category(new)}"
        line.detail = reason
    elif kind == "tags_changed":
        line.text = _tags(old, new)
        line.detail = reason
    elif kind in ("escalated", "de_escalated"):
        new_d, old_d = new or {}, old or {}
        verb = "escalated the case" if kind == "escalated" else "sent the case back"
        team = f" ({new_d['team']})" if new_d.get("team") else ""
        line.text = f"{verb} to L{new_d.get('tier')}{team}"
        if old_d.get("assignee"):
            line.text += f"; {names.user(old_d['assignee'])} had it at L{old_d.get('tier')}"
        line.detail = reason
        note = data.get("handoff_note", "")
        if note and not note.startswith("Escalated automatically") and not getattr(event, "message_id", None):
            line.detail = (line.detail + " — " if line.detail else "") + f"Hand-off: {note}"
    elif kind == "merged":
        line.text = "merged a duplicate into this case:"
        line.link = (new or {}).get("reference", "")
        line.detail = reason
    elif kind == "merged_into":
        line.text = "merged this case into"
        line.link = (new or {}).get("reference", "")
        line.detail = reason
    elif kind == "reopened":
        line.text = "reopened the case"
        line.detail = reason
    elif kind == "follow_up_opened":
        line.text = "opened a follow-up case:"
        line.link = (new or {}).get("reference", "")
        line.detail = reason
    elif kind == "task_added":
        new = new or {}
        extra = []
        if new.get("owner"):
            extra.append(f"for {names.user(new['owner'])}")
        if new.get("due_at"):
            extra.append("with a due date")
        line.text = f"added the task “{new.get('title', '')}”" + (f" {' '.join(extra)}" if extra else "")
    elif kind == "task_completed":
        new = new or {}
        verb = "completed" if new.get("done") else "reopened"
        line.text = f"{verb} the task “{new.get('title', '')}”"
    elif kind == "attachment_added":
        line.text = f"attached {(new or {}).get('filename', 'a file')}"
    elif kind == "call_logged":
        new = new or {}
        minutes = round((new.get("duration_seconds") or 0) / 60)
        direction = "an outgoing" if new.get("direction") == "outbound" else "an incoming"
        line.text = f"logged {direction} phone call" + (f" ({minutes} min)" if minutes else "")
    elif kind == "sentiment_changed":
        before, after = (old or {}).get("frustrated"), (new or {}).get("frustrated")
        if bool(before) == bool(after):
            return None  # a score that moved without changing the flag is on its message already
        score = (new or {}).get("sentiment")
        scored = f" (message scored {score:+.2f})" if isinstance(score, int | float) and automated else ""
        line.text = (
            "flagged the customer as frustrated" if after else "cleared the frustrated flag"
        ) + scored
        if automated:
            reason = ""
        line.detail = reason
    elif kind == "field_changed":
        line.text = _field_changes(old, new, names)
        if not line.text:
            return None
        line.detail = reason
    elif kind == "rule_applied":
        line.text = _rule_explanation(why) or "matched"
        line.why = ""
        line.rule = rule or (new or {}).get("rule", "")
    elif kind == "sla":
        line.who, line.automated = "SLA", True
        line.text = _sla_text(event, names)
        if not line.text:
            return None
    elif kind == "note":
        if data.get("notify"):
            target = str(data["notify"]).replace("_", " ")
            line.text = f"asked to notify the {target}: {reason}"
        else:
            line.text = reason or "added a note"
        if why and why.startswith("Left in") and reason.startswith("Left in"):
            line.why = ""
    else:
        line.text = kind.replace("_", " ")
        line.detail = reason
    if not line.text:
        return None
    return line


def render(events: Iterable[Any], names: Names) -> dict[int, Line]:
    """Lines for a case's events in timeline order, by event id; events with nothing to say are absent.
    A rule's explanation is written once: on its `rule_applied` line, or on the first change it made."""
    explained: set[str] = set()
    lines: dict[int, Line] = {}
    for event in events:
        line = describe(event, names)
        if line is None:
            continue
        key = line.rule
        if key and key in explained:
            line.why = ""
        elif key and (event.kind == "rule_applied" or line.why):
            explained.add(key)
        if line.why and line.why in (line.text, line.detail):
            line.why = ""
        lines[event.pk] = line
    return lines


def names_for(events: list[Any]) -> Names:
    """Read the names the events mention: one query for users, one for categories, one for fields."""
    from django.contrib.auth import get_user_model

    from casework.cases.models import Category, CustomFieldDefinition

    usernames: set[str] = set()
    for event in events:
        old, new, data = event.old, event.new, event.data or {}
        if event.kind == "assigned":
            usernames.update(v for v in (old, new) if isinstance(v, str) and v)
        elif event.kind in ("escalated", "de_escalated"):
            usernames.update(
                side.get("assignee") for side in (old, new) if isinstance(side, dict) and side.get("assignee")
            )
        elif event.kind == "task_added" and isinstance(new, dict) and new.get("owner"):
            usernames.add(new["owner"])
        if isinstance(data, dict) and isinstance(data.get("notified"), list):
            usernames.update(u for u in data["notified"] if isinstance(u, str))
    users = {}
    if usernames:
        for username, first, last in (
            get_user_model()
            .objects.filter(username__in=usernames)
            .values_list("username", "first_name", "last_name")
        ):
            users[username] = f"{first} {last}".strip() or username
    kinds = {event.kind for event in events}
    categories = dict(Category.objects.values_list("slug", "name")) if "category_changed" in kinds else {}
    fields = {}
    if "field_changed" in kinds:
        fields = dict(CustomFieldDefinition.objects.values_list("key", "label"))
    return Names(users=users, categories=categories, fields=fields)
