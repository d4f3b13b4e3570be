"""Default triage rules from the support playbook, as data.

Seeded into the ``Rule`` table on install; admins edit or disable them there. Keys are stable so a later
release can update a default rule it shipped without touching rules the admin wrote.

How the order resolves conflicts (later ``set_category`` wins, ``set_priority`` overrides,
``raise_priority_to`` only raises):

* generic signals come first, specific ones later: question < bug < performance < billing < outage-is-a-bug
  < authentication < feature request < data. So "error on the login page" is authentication, "timeout error"
  is performance, "how do I recover deleted data" is data, "feature request: remember me on login" is a
  feature request.
* the rules that lower priority (question, feature request, cosmetic, auto-reply) run before every rule that
  raises it, so "how do I ... everything is down" still ends critical.
* "all users"/"everyone" alone is not an outage ("how do I enable 2FA for all users"); it is critical only
  together with a breakage word, and high together with a slowness word.

When no rule sets them, a new case keeps ``DEFAULT_FACTS``: priority medium, category other.
"""

from __future__ import annotations

from typing import Any

DEFAULT_PRIORITY = "medium"
DEFAULT_CATEGORY = "other"
DEFAULT_FACTS: dict[str, Any] = {
    "priority": DEFAULT_PRIORITY,
    "category": DEFAULT_CATEGORY,
    "tier": 1,
    "tags": [],
}

PRIORITY_CRITERIA: dict[str, str] = {
    "critical": "System down, data loss or a security incident; many users blocked.",
    "high": "A major function is broken with no workaround, or a VIP customer is blocked.",
    "medium": "A problem that has a workaround.",
    "low": "A question, a how-to, or a cosmetic issue.",
}

QUESTION = [
    "how do i",
    "how do we",
    "how can i",
    "how can we",
    "how to",
    "how does",
    "is it possible",
    "is there a way",
    "is there a list",
    "where can i",
    "where do i",
    "what's the",
    "what is the",
]
BUG = [
    "bug",
    "bugs",
    "error",
    "errors",
    "crash",
    "crashes",
    "crashed",
    "crashing",
    "exception",
    "stack trace",
    "not working",
    "stopped working",
    "doesn't work",
    "does not work",
    "nothing works",
    "broken",
    "fails",
    "failed",
    "failing",
    "white screen",
    "blank page",
    "does nothing",
    "typo",
    "glitch",
]
PERFORMANCE = [
    "slow",
    "slower",
    "slowly",
    "sluggish",
    "takes forever",
    "taking forever",
    "takes ages",
    "timeout",
    "timeouts",
    "timed out",
    "times out",
    "laggy",
    "lagging",
    "performance",
    "arriving late",
    "delayed",
]
# "takes 40 seconds", "took 5+ minutes": a duration complaint is a performance report even without "slow".
PERFORMANCE_DURATION = (
    r"\b(?:takes?|took|taking) (?:over |about |up to )?\d+\+? ?(?:s|sec|secs|seconds|min|mins|minutes)\b"
)
BILLING = [
    "invoice",
    "invoices",
    "invoiced",
    "refund",
    "refunds",
    "charge",
    "charged",
    "charges",
    "billing",
    "billed",
    "payment",
    "payments",
    "subscription",
    "credit note",
    "vat",
    "receipt",
    "proration",
]
AUTHENTICATION = [
    "password",
    "passwords",
    "login",
    "logins",
    "log in",
    "log on",
    "sign in",
    "signin",
    "can't sign in",
    "cant sign in",
    "cant login",
    "2fa",
    "two-factor",
    "two factor",
    "mfa",
    "sso",
    "single sign-on",
    "authenticator",
    "locked out",
    "account locked",
    "account is locked",
    "account is disabled",
]
FEATURE_REQUEST = [
    "feature request",
    "would be great if",
    "would be great to",
    "would be nice",
    "would be useful",
    "would be really useful",
    "it would be good if",
    "please add",
    "could you add",
    "can you add",
    "any plans to",
    "wish list",
    "suggestion",
]
COSMETIC = ["cosmetic", "minor bug", "minor issue", "small thing", "typo", "no impact"]
AUTO_REPLY = ["automatic reply", "auto-reply", "autoreply", "out of office", "out of the office"]
NO_WORKAROUND = [
    "no workaround",
    "no work around",
    "no other way",
    "can't do my job",
    "cannot do my job",
    "completely blocked",
    "we are blocked",
    "we're blocked",
    "blocking us",
    "can't work",
    "cannot work",
]
OUTAGE = [
    "system down",
    "systems down",
    "system is down",
    "service down",
    "service is down",
    "site is down",
    "site down",
    "platform is down",
    "down for everyone",
    "down for everybody",
    "down for all",
    "outage",
    "outages",
    "not working for anyone",
    "not working for everyone",
    "nobody can",
    "no one can",
    "none of us can",
    "completely down",
    "whole company affected",
    "entire company affected",
]
# "nobody in our company can log in": the many-users subject and the "can" may be a few words apart.
NOBODY_CAN = (
    r"\b(?:nobody|no one|noone|none of (?:us|our \w+))\b[^.!?\n]{0,40}\b(?:can|could|is able|are able)\b"
)
MANY_USERS = [
    "all users",
    "all our users",
    "all of our users",
    "all of us",
    "for everyone",
    "everyone in",
    "everyone here",
    "everyone is",
    "everybody in",
    "everybody here",
    "everybody is",
    "whole team",
    "entire team",
    "whole company",
    "entire company",
    "whole office",
    "all staff",
    "all our staff",
    "whole org",
    "entire org",
    "all agents",
    "all sites",
    "all our sites",
    "everyone's",
]
BREAKAGE = [
    "can't",
    "cannot",
    "can not",
    "cant",
    "unable",
    "not working",
    "doesn't work",
    "nothing works",
    "down",
    "blocked",
    "error",
    "errors",
    "fails",
    "failing",
    "failed",
    "unavailable",
    "unreachable",
    "blank",
    "same problem",
    "same issue",
    "affected",
    "affects",
    "impacting",
    "locked out",
]
DATA_MISSING = [
    "data missing",
    "missing data",
    "data loss",
    "lost data",
    "lost my data",
    "deleted my data",
    "deleted by mistake",
    "deleted by accident",
    "accidentally deleted",
    "recover deleted",
    "restore deleted",
    "are missing",
    "is missing",
    "missing from",
    "disappeared",
    "vanished",
]
MASS_DATA_LOSS = [
    "all our data",
    "all of our data",
    "all my data",
    "everything is gone",
    "everything is empty",
    "data is gone",
    "data are gone",
    "lost all",
    "lost everything",
    "entire database",
    "whole database",
    "all our records",
    "all records",
]
# "we've lost about 2,000 customer records": a counted loss is data loss at scale.
COUNTED_LOSS = (
    r"\blost (?:about |around |over |nearly |almost |roughly )?\d[\d,.]*k? (?:\w+ )?"
    r"(?:records|contacts|cases|tickets|customers|files|rows|emails|documents|entries)\b"
)
SECURITY = [
    "hacked",
    "compromised",
    "security breach",
    "data breach",
    "unauthorized access",
    "unauthorised access",
    "suspicious login",
    "suspicious logins",
    "account takeover",
    "phishing",
    "leaked",
    "security incident",
]


def _text(op: str, value: Any) -> dict[str, Any]:
    return {"field": "text", "op": op, "value": value}


def _rule(key: str, name: str, order: int, conditions: dict[str, Any], actions: list[dict[str, Any]],
          trigger: str = "case_opened") -> dict[str, Any]:  # fmt: skip
    return {
        "key": key,
        "name": name,
        "trigger": trigger,
        "order": order,
        "conditions": conditions,
        "actions": actions,
    }


_OUTAGE_CONDITION: dict[str, Any] = {
    "any": [
        _text("contains_any", OUTAGE),
        _text("matches", NOBODY_CAN),
        {"all": [_text("contains_any", MANY_USERS), _text("contains_any", BREAKAGE)]},
    ]
}
_MASS_LOSS_CONDITION: dict[str, Any] = {
    "any": [_text("contains_any", MASS_DATA_LOSS), _text("matches", COUNTED_LOSS)]
}
_FRUSTRATED_SENIOR: dict[str, Any] = {
    "all": [
        {"field": "frustrated", "op": "is_true"},
        {"field": "priority", "op": "priority_at_least", "value": "high"},
    ]
}

_CASE_OPENED: list[dict[str, Any]] = [
    _rule("question", "How-to question", 10, _text("contains_any", QUESTION),
          [{"type": "set_priority", "value": "low"}, {"type": "set_category", "value": "question"}]),
    _rule("auto-reply", "Automatic reply", 15,
          {"field": "subject", "op": "contains_any", "value": AUTO_REPLY},
          [{"type": "set_priority", "value": "low"}, {"type": "add_tag", "value": "auto-reply"}]),
    _rule("bug", "Bug report", 20, _text("contains_any", BUG),
          [{"type": "set_category", "value": "bug"}, {"type": "raise_priority_to", "value": "medium"}]),
    _rule("performance", "Performance", 30,
          {"any": [_text("contains_any", PERFORMANCE), _text("matches", PERFORMANCE_DURATION)]},
          [{"type": "set_category", "value": "performance"},
           {"type": "raise_priority_to", "value": "medium"}]),
    _rule("billing", "Billing", 40, _text("contains_any", BILLING),
          [{"type": "set_category", "value": "billing"}]),
    _rule("outage-category", "Outage is a bug", 45, _OUTAGE_CONDITION,
          [{"type": "set_category", "value": "bug"}]),
    _rule("authentication", "Authentication", 50, _text("contains_any", AUTHENTICATION),
          [{"type": "set_category", "value": "authentication"}]),
    _rule("feature-request", "Feature request", 60, _text("contains_any", FEATURE_REQUEST),
          [{"type": "set_category", "value": "feature request"}, {"type": "set_priority", "value": "low"}]),
    _rule("cosmetic", "Cosmetic issue", 70, _text("contains_any", COSMETIC),
          [{"type": "set_priority", "value": "low"}]),
    _rule("data-missing", "Data missing", 80, _text("contains_any", DATA_MISSING),
          [{"type": "set_category", "value": "data"}, {"type": "raise_priority_to", "value": "high"},
           {"type": "escalate_to_tier", "value": 2}]),
    _rule("no-workaround", "No workaround", 90, _text("contains_any", NO_WORKAROUND),
          [{"type": "raise_priority_to", "value": "high"}]),
    _rule("widespread-slowness", "Slow for many users", 95,
          {"all": [_text("contains_any", MANY_USERS), _text("contains_any", PERFORMANCE)]},
          [{"type": "raise_priority_to", "value": "high"}]),
    _rule("outage", "Outage", 100, _OUTAGE_CONDITION,
          [{"type": "set_priority", "value": "critical"}, {"type": "add_tag", "value": "outage"},
           {"type": "notify", "value": {"to": "team_lead", "message": "Possible outage reported"}}]),
    _rule("mass-data-loss", "Data loss", 110, _MASS_LOSS_CONDITION,
          [{"type": "set_category", "value": "data"}, {"type": "set_priority", "value": "critical"},
           {"type": "escalate_to_tier", "value": 2}]),
    _rule("security", "Security incident", 120, _text("contains_any", SECURITY),
          [{"type": "set_priority", "value": "critical"}, {"type": "add_tag", "value": "security"},
           {"type": "escalate_to_tier", "value": 2},
           {"type": "notify", "value": {"to": "team_lead", "message": "Possible security incident"}}]),
    _rule("key-account", "Enterprise or VIP", 200,
          {"any": [{"field": "customer_tier", "op": "eq", "value": "enterprise"},
                   {"field": "vip", "op": "is_true"}]},
          [{"type": "raise_priority_to", "value": "high"}]),
    _rule("frustrated-senior", "Frustrated customer on an urgent case", 300, _FRUSTRATED_SENIOR,
          [{"type": "assign_team", "value": "L2"}, {"type": "add_tag", "value": "frustrated"}]),
]  # fmt: skip

# Where a model is trained, the shipped keyword rules are the floor, not the goal: they give way to a
# confident model on category and priority (their tags, tiers and notifications still apply). The safety
# rules keep precedence: a possible outage, data loss or security incident, and key accounts.
MODEL_PRECEDENCE_KEYS = ("outage", "mass-data-loss", "security", "key-account", "frustrated-senior")
GIVES_WAY_TO_MODEL = tuple(r["key"] for r in _CASE_OPENED if r["key"] not in MODEL_PRECEDENCE_KEYS)

# On a reply only escalation makes sense: the category was decided when the case opened, and a follow-up
# saying "how do I ..." must not lower a case's priority.
_REPLY_KEYS = ("outage", "mass-data-loss", "security", "frustrated-senior")

DEFAULT_RULES: list[dict[str, Any]] = _CASE_OPENED + [
    {**rule, "key": f"{rule['key']}-on-reply", "trigger": "message_received"}
    for rule in _CASE_OPENED
    if rule["key"] in _REPLY_KEYS
]
