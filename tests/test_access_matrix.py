"""The role × route matrix: every URL of the URL conf and every operation of the OpenAPI document, for each
persona, against its own team's objects and another team's — expected status, and nothing of a refused
object in the body.

ADDING A ROUTE? Add one line to WEB_RULES (URL name → method and access level) or API_RULES
("METHOD /api/v1/path" → access level, body). A route without a line fails `test_every_route_has_a_rule`,
and a line for a route that no longer exists fails it too. The access levels:

    PUBLIC        anyone, signed in or not
    SECRET        the inbound-mail secret only (CASEWORK_INBOUND_SECRET), never an agent token
    AGENT         any agent (customers and users without a role are refused)
    CASE_READ     any agent; another team's case is read-only (CASEWORK_OTHER_TEAMS=read) or 404 (hidden)
    CASE_WRITE    agents of the case's team (and managers/admins); another team's case is 403 (or 404 hidden)
    SELF_OR_LEAD  the agent themself, a lead of one of their teams, managers, admins (another agent → 403)
    TEAM_LEAD     the team's lead, managers and admins (report figures: the rule's data names the target's
                  team as "{team}", and a lead asking for another team's figures gets 403)
    LEAD / MANAGER / ADMIN   that role or above
    OWNER         a per-person object (a notification, a saved view, a token, a draft) of Rule.owner: only
                  they open it; anyone else signed in gets 404 (or 403 when their role is refused first)
    WEBHOOK       signed by the sending system (HMAC with its own secret): every session and token gets 403
    PORTAL        the customer side (portal, survey links, web form): an agent's or anyone's session opens
                  nothing of a case there; it answers without a server error and leaks no case data.
                  Which customer sees which case is tested in casework/portal/tests.

Personas: anonymous; `outsider` (a signed-in user with no agent profile: how a customer or a stale account
looks to the workspace); `ann` (agent, team Alpha); `leo` (lead of Alpha); `max` (manager); `ada` (admin).
"Own" objects belong to Alpha, "other" objects to team Beta (agent `bea`). API tokens hold the scope the
operation needs; `test_api_scopes` checks that a token without it is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from casework.api.models import ApiToken
from casework.testing.factories import CustomerFactory, TeamFactory, UserFactory, make_agent, open_case

PUBLIC, SECRET, AGENT = "public", "secret", "agent"
CASE_READ, CASE_WRITE, SELF_OR_LEAD, TEAM_LEAD = "case_read", "case_write", "self_or_lead", "team_lead"
LEAD, MANAGER, ADMIN = "lead", "manager", "admin"
OWNER, PORTAL, WEBHOOK = "owner", "portal", "webhook"


@dataclass(frozen=True)
class Rule:
    level: str
    method: str = "GET"
    body: dict | bytes | None = None
    scope: str | None = None  # API: the token scope it needs (default: read for GET, write otherwise)
    data: dict = field(default_factory=dict)  # web: form fields
    args: dict = field(default_factory=dict)  # URL parameter → world object key, or a literal value
    owner: str = "ann"  # OWNER: whose object it is


# --- the rules: one line per route --------------------------------------------------------------------------

WEB_RULES: dict[str, Rule] = {
    "admin:*": Rule(ADMIN),  # Django admin: superusers (and staff), checked on its index page
    "web:login": Rule(PUBLIC),
    "web:logout": Rule(PUBLIC, "POST"),
    "web:healthz": Rule(PUBLIC),
    "web:queue": Rule(AGENT),
    "web:case_new": Rule(AGENT),
    "web:call_new": Rule(AGENT),
    "web:case": Rule(CASE_READ),
    "privacy:page": Rule(MANAGER),
    "privacy:hold": Rule(MANAGER, "POST", data={"reference": "", "reason": "r"}),
    "privacy:erase": Rule(MANAGER, "POST", data={"email": "nobody@example.test", "reason": "r"}),
    "privacy:policy_new": Rule(ADMIN),
    "privacy:policy_edit": Rule(ADMIN, args={"pk": "policy"}),
    "web:case_reply": Rule(CASE_WRITE, "POST", data={"body": "hello", "internal": "on"}),
    "web:case_transition": Rule(CASE_WRITE, "POST", data={"to": "in_progress"}),
    "web:case_reopen": Rule(CASE_WRITE, "POST"),
    "web:case_fields": Rule(CASE_WRITE, "POST", data={"priority": "high"}),
    "web:case_take": Rule(CASE_WRITE, "POST"),
    "web:case_escalate": Rule(CASE_WRITE, "POST"),
    "web:case_tags": Rule(CASE_WRITE, "POST", data={"add": "x"}),
    "web:case_sentiment": Rule(CASE_WRITE, "POST"),
    "web:case_merge": Rule(CASE_WRITE, "POST"),
    "web:case_add_task": Rule(CASE_WRITE, "POST", data={"title": "t"}),
    "web:task_toggle": Rule(CASE_WRITE, "POST"),
    "web:case_upload": Rule(CASE_WRITE, "POST"),
    "web:attachment_download": Rule(CASE_READ),
    "web:message_split": Rule(CASE_WRITE, "POST"),
    "web:message_move": Rule(CASE_WRITE, "POST"),
    "web:customer": Rule(AGENT),
    "routing:case_auto_assign": Rule(CASE_WRITE, "POST"),
    "routing:my_availability": Rule(AGENT),
    "triage:dry_run": Rule(LEAD),
    "triage:rules": Rule(LEAD),
    "triage:rule_new": Rule(LEAD),
    "triage:rule_edit": Rule(LEAD),
    "triage:rule_toggle": Rule(LEAD, "POST", data={"reason": "matrix"}),
    "triage:rule_move": Rule(LEAD, "POST", data={"direction": "down"}),
    "triage:needs_triage": Rule(AGENT),
    "triage:corrections": Rule(AGENT),
    "triage:verdict": Rule(CASE_WRITE, "POST", data={"category": "", "priority": "high"}),
    "web:favicon": Rule(PUBLIC),
    "web:my_tasks": Rule(AGENT),
    "web:cases_bulk": Rule(AGENT, "POST", data={"action": "tag", "tag": "x"}),  # each case: CASE_WRITE
    "web:case_custom_fields": Rule(CASE_WRITE, "POST"),
    "web:customer_edit": Rule(AGENT, "POST", data={"name": "Renamed", "reason": "matrix"}),
    "web:organisation": Rule(AGENT),
    "web:saved_view_create": Rule(AGENT, "POST", data={"name": "mine", "query": "view=open"}),
    "web:saved_view_delete": Rule(OWNER, "POST"),
    "web:api_tokens": Rule(AGENT),
    "web:api_token_revoke": Rule(OWNER, "POST"),
    "notify:list": Rule(AGENT),
    "notify:digest": Rule(AGENT, "POST"),
    "notify:read_all": Rule(AGENT, "POST"),
    "notify:open": Rule(OWNER, "POST", args={"pk": "notification"}),
    "notify:read": Rule(OWNER, "POST", args={"pk": "notification"}),
    "knowledge:list": Rule(AGENT),
    "knowledge:new": Rule(AGENT),
    "knowledge:detail": Rule(AGENT, args={"pk": "article"}),
    "knowledge:edit": Rule(AGENT, args={"pk": "article"}),
    "knowledge:from_case": Rule(CASE_WRITE, "POST"),
    "knowledge:link": Rule(CASE_WRITE, "POST", args={"pk": "article"}),
    "knowledge:macro_preview": Rule(CASE_READ, args={"pk": "macro"}),
    "knowledge:suggestions": Rule(PUBLIC),
    "knowledge:draft_propose": Rule(CASE_WRITE, "POST"),
    "knowledge:draft_show": Rule(OWNER, args={"pk": "draft"}),
    "knowledge:draft_discard": Rule(OWNER, "POST", args={"pk": "draft"}),
    "knowledge:public_article": Rule(PUBLIC, args={"slug": "public_slug"}),
    "knowledge:public_search": Rule(PUBLIC),
    # Figures: a lead reads the teams they lead; naming another team ("{team}": the target's) is a 403.
    "reports:dashboard": Rule(TEAM_LEAD, data={"team": "{team}"}),
    "reports:report": Rule(TEAM_LEAD, data={"metric": "volume", "team": "{team}"}),
    "reports:cases": Rule(TEAM_LEAD, data={"figure": "open", "team": "{team}"}),
    "reports:csv": Rule(TEAM_LEAD, args={"name": "volume"}, data={"team": "{team}"}),
    "reports:save": Rule(LEAD, "POST", data={"name": "weekly", "metric": "volume"}),
    "reports:saved": Rule(OWNER, args={"pk": "saved_report"}, owner="leo"),
    "reports:delete_saved": Rule(OWNER, "POST", args={"pk": "saved_report"}, owner="leo"),
    "reports:subscribe": Rule(LEAD, "POST"),
    "reports:chart_css": Rule(PUBLIC),
    "csat:reviews": Rule(LEAD),
    "csat:review_close": Rule(
        TEAM_LEAD, "POST", args={"review_id": "review"}, data={"outcome": "coaching", "note": "ok"}
    ),
    "csat:rate": Rule(PORTAL, args={"token": "not-a-token", "score": 5}),
    "csat:comment": Rule(PORTAL, args={"token": "not-a-token"}),
    "portal:cases": Rule(PORTAL),
    "portal:case": Rule(PORTAL),
    "portal:case_reply": Rule(PORTAL, "POST", data={"body": "hi"}),
    "portal:case_close": Rule(PORTAL, "POST"),
    "portal:case_reopen": Rule(PORTAL, "POST"),
    "portal:attachment": Rule(PORTAL),
    "portal:follow": Rule(PORTAL, args={"token": "not-a-token"}),
    "portal:sign_in": Rule(PORTAL),
    "portal:sign_out": Rule(PORTAL, "POST"),
    "portal:resend": Rule(PORTAL, "POST"),
    "portal:new": Rule(PORTAL),
    "portal:new_sent": Rule(PORTAL, args={"sent": "not-a-token"}),
    "portal:suggestions": Rule(PORTAL),
    "insights:problems": Rule(AGENT),
    "insights:problem": Rule(AGENT, args={"pk": "problem"}),
    "insights:problem_new": Rule(LEAD, "POST", data={"title": "Exports fail"}),
    "insights:problem_edit": Rule(LEAD, "POST", args={"pk": "problem"}, data={"title": "Exports fail"}),
    "insights:problem_link": Rule(LEAD, "POST", args={"pk": "problem"}),
    "insights:problem_reject": Rule(LEAD, "POST", args={"pk": "problem"}),
    "insights:duplicate_merge": Rule(CASE_WRITE, "POST", args={"pk": "suggestion"}),
    "insights:duplicate_dismiss": Rule(CASE_WRITE, "POST", args={"pk": "suggestion"}),
    "insights:link": Rule(AGENT, args={"pk": "link"}),
    "insights:link_new": Rule(
        CASE_WRITE,
        "POST",
        data={"case": "{reference}", "system": "github", "url": "https://github.com/o/r/issues/1"},
    ),
    "insights:link_resolve": Rule(AGENT, "POST", args={"pk": "link"}),  # each case's door checks its team
    "insights:findings": Rule(LEAD),
    "insights:gap_dismiss": Rule(LEAD, "POST", args={"pk": "gap"}),
    "insights:gap_draft": Rule(LEAD, "POST", args={"pk": "gap"}),
    "insights:github_webhook": Rule(WEBHOOK, "POST"),
    "insights:jira_webhook": Rule(WEBHOOK, "POST"),
}

API_RULES: dict[str, Rule] = {
    "GET /api/v1/cases": Rule(AGENT),
    "POST /api/v1/cases": Rule(
        AGENT, body={"customer_email": "new@example.test", "subject": "New", "description": "d"}
    ),
    "GET /api/v1/cases/{reference}": Rule(CASE_READ),
    "PATCH /api/v1/cases/{reference}": Rule(CASE_WRITE, body={"priority": "high"}),
    "POST /api/v1/cases/{reference}/transitions": Rule(CASE_WRITE, body={"to": "in_progress"}),
    "POST /api/v1/cases/{reference}/messages": Rule(CASE_WRITE, body={"body": "hi", "internal": True}),
    "GET /api/v1/cases/{reference}/messages": Rule(CASE_READ),
    "GET /api/v1/cases/{reference}/events": Rule(CASE_READ),
    "GET /api/v1/cases/{reference}/clocks": Rule(CASE_READ),
    "POST /api/v1/cases/{reference}/assign": Rule(CASE_WRITE, body={"auto": True}),
    "POST /api/v1/cases/{reference}/escalate": Rule(CASE_WRITE, body={"handoff_note": "over to you"}),
    "POST /api/v1/cases/{reference}/de-escalate": Rule(CASE_WRITE, body={"handoff_note": "back"}),
    "GET /api/v1/customers": Rule(AGENT),
    "POST /api/v1/customers": Rule(AGENT, body={"email": "c@example.test"}),
    "GET /api/v1/customers/{customer_id}": Rule(AGENT),
    "GET /api/v1/organisations": Rule(AGENT),
    "POST /api/v1/organisations": Rule(MANAGER, body={"name": "Initech"}, scope="admin"),
    "GET /api/v1/organisations/{organisation_id}": Rule(AGENT),
    "GET /api/v1/rules": Rule(AGENT),
    "POST /api/v1/rules": Rule(LEAD, body={"name": "r"}, scope="admin"),
    "GET /api/v1/rules/{rule_id}": Rule(AGENT),
    "PATCH /api/v1/rules/{rule_id}": Rule(LEAD, body={"name": "r2"}, scope="admin"),
    "POST /api/v1/rules/dry-run": Rule(LEAD, body={"last": 5}, scope="read"),
    "GET /api/v1/agents/{username}/availability": Rule(AGENT),
    "PUT /api/v1/agents/{username}/availability": Rule(SELF_OR_LEAD, body={"availability": "active"}),
    "GET /api/v1/teams/{name}": Rule(AGENT),
    "PATCH /api/v1/teams/{name}": Rule(TEAM_LEAD, body={"assignment_mode": "manual"}),
    "GET /api/v1/search/cases": Rule(AGENT),
    "POST /api/v1/cases/bulk": Rule(AGENT, body={"references": [], "action": "tag", "tag": "x"}),
    "GET /api/v1/cases/{reference}/suggestions": Rule(CASE_READ),
    "POST /api/v1/cases/{reference}/macros/{pk}": Rule(CASE_WRITE, body={}, args={"pk": "macro"}),
    "POST /api/v1/cases/{reference}/drafts": Rule(CASE_WRITE),
    "POST /api/v1/drafts/{pk}/decision": Rule(OWNER, body={"sent_text": None}, args={"pk": "draft"}),
    "GET /api/v1/macros": Rule(AGENT),
    "GET /api/v1/articles": Rule(AGENT),
    "POST /api/v1/articles": Rule(AGENT, body={"title": "How to", "body": "Like this."}),
    "GET /api/v1/articles/{pk}": Rule(AGENT, args={"pk": "article"}),
    "PATCH /api/v1/articles/{pk}": Rule(AGENT, body={"title": "Renamed"}, args={"pk": "article"}),
    "DELETE /api/v1/articles/{pk}": Rule(LEAD, args={"pk": "article"}),
    "GET /api/v1/knowledge/gaps": Rule(TEAM_LEAD, data={"team": "{team}"}),
    "GET /api/v1/knowledge/deflection": Rule(LEAD),
    "GET /api/v1/metrics": Rule(AGENT),
    "GET /api/v1/metrics/{name}": Rule(TEAM_LEAD, args={"name": "volume"}, data={"team": "{team}"}),
    "POST /api/v1/cases/{reference}/merge": Rule(CASE_WRITE, body={"into": "{reference}"}),
    "POST /api/v1/cases/{reference}/messages/{message_id}/split": Rule(CASE_WRITE, body={}),
    "POST /api/v1/cases/{reference}/messages/{message_id}/move": Rule(CASE_WRITE, body={"to": "{reference}"}),
    "GET /api/v1/cases/{reference}/tasks": Rule(CASE_READ),
    "POST /api/v1/cases/{reference}/tasks": Rule(CASE_WRITE, body={"title": "Call back"}),
    "PATCH /api/v1/cases/{reference}/tasks/{task_id}": Rule(CASE_WRITE, body={"done": True}),
    "POST /api/v1/calls": Rule(
        AGENT, body={"summary": "Asked about invoices", "customer_phone": "+441234567"}
    ),
    "GET /api/v1/retention/preview": Rule(MANAGER),
    "POST /api/v1/cases/{reference}/legal-hold": Rule(MANAGER, body={"held": True, "reason": "litigation"}),
    "POST /api/v1/organisations/{organisation_id}/legal-hold": Rule(
        MANAGER, body={"held": True, "reason": "litigation"}
    ),
    "POST /api/v1/customers/{customer_id}/erase": Rule(MANAGER, body={"reason": "asked", "dry_run": True}),
    "GET /api/v1/cases/{reference}/duplicates": Rule(CASE_READ),
    "POST /api/v1/duplicates/{pk}/merge": Rule(CASE_WRITE, body={}, args={"pk": "suggestion"}),
    "POST /api/v1/duplicates/{pk}/dismiss": Rule(CASE_WRITE, body={}, args={"pk": "suggestion"}),
    "GET /api/v1/clusters": Rule(AGENT),
    "GET /api/v1/problems": Rule(AGENT),
    "POST /api/v1/problems": Rule(LEAD, body={"title": "Exports fail"}),
    "GET /api/v1/problems/{pk}": Rule(AGENT, args={"pk": "problem"}),
    "PATCH /api/v1/problems/{pk}": Rule(LEAD, body={"title": "Exports still fail"}, args={"pk": "problem"}),
    "POST /api/v1/problems/{pk}/resolve": Rule(LEAD, body={"note": "Fixed in 2.3"}, args={"pk": "problem"}),
    "POST /api/v1/problems/{pk}/cases": Rule(LEAD, body={"cases": []}, args={"pk": "problem"}),
    "GET /api/v1/insights/findings": Rule(LEAD),
    "POST /api/v1/insights/gaps/{pk}/dismiss": Rule(LEAD, body={}, args={"pk": "gap"}),
    "POST /api/v1/insights/gaps/{pk}/draft": Rule(LEAD, body={}, args={"pk": "gap"}),
    "POST /api/v1/inbound/email": Rule(SECRET, body=b"From: a@example.test\r\nSubject: hi\r\n\r\nhello\r\n"),
}

PERSONAS = ["anonymous", "outsider", "ann", "leo", "max", "ada"]
ROLE_OF = {"ann": "agent", "leo": "lead", "max": "manager", "ada": "admin"}
RANK = {"agent": 1, "lead": 2, "manager": 3, "admin": 4}
OWN_MARK, OTHER_MARK = "Ownsecretsubject", "Othersecretsubject"


# --- expected outcome ---------------------------------------------------------------------------------------

ALLOW, LOGIN, DENY, HIDE = "allow", "login", "deny", "hide"


def expected(level: str, persona: str, target: str, hidden: bool, owner: str = "ann") -> str | set[str]:
    """ALLOW, LOGIN (anonymous: sign-in redirect / 401), DENY (403) or HIDE (404); a set where either
    answer is right (another person's object: 404, or 403 when the role is refused before the lookup)."""
    if level == PUBLIC:
        return ALLOW
    if level == WEBHOOK:
        return DENY
    if level == PORTAL:
        return {ALLOW, LOGIN, DENY, HIDE}  # anything but a server error; _leaks checks the body
    if level == SECRET:
        return LOGIN  # nobody's session or token opens it; the secret is tested on its own
    if persona == "anonymous":
        return LOGIN
    if persona == "outsider":
        return DENY
    rank = RANK[ROLE_OF[persona]]
    if level == OWNER:
        return ALLOW if persona == owner else {HIDE, DENY}
    if level == AGENT:
        return ALLOW
    if level in (CASE_READ, CASE_WRITE):
        if target == "own" or rank >= RANK["manager"]:
            return ALLOW
        if hidden:
            return HIDE
        return ALLOW if level == CASE_READ else DENY
    if level == SELF_OR_LEAD:
        if rank >= RANK["manager"]:
            return ALLOW
        # own target: ann herself (the agent persona) and a member of leo's team
        return ALLOW if target == "own" and persona in ("ann", "leo") else DENY
    if level == TEAM_LEAD:
        if rank >= RANK["manager"] or (persona == "leo" and target == "own"):
            return ALLOW
        return {DENY, HIDE}  # another team's object may be looked up only among one's own
    return ALLOW if rank >= RANK[level] else DENY


def classify(status: int, *, api: bool) -> str:
    assert status < 500, f"server error {status}"
    if status == 401:
        return LOGIN
    if status == 403:
        return DENY
    if status == 404:
        return HIDE
    return ALLOW


# --- the world ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once per module inside a transaction that is rolled back at the end; each test (and each
    cell, see _in_rollback) runs in a savepoint on top of it."""
    from django.conf import settings as django_settings

    from casework.cases import services
    from casework.cases.models import Task
    from casework.people.models import Organisation
    from casework.triage.models import Rule as TriageRule

    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        hashers, media = django_settings.PASSWORD_HASHERS, django_settings.MEDIA_ROOT
        django_settings.MEDIA_ROOT = media_root = tmp_path_factory.mktemp("matrix-media")
        django_settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
        try:
            alpha, beta = TeamFactory(name="Alpha"), TeamFactory(name="Beta")
            users = {
                "ann": make_agent("ann", teams=[alpha]),
                "leo": make_agent("leo", teams=[alpha], role="lead"),
                "max": make_agent("max", role="manager"),
                "ada": make_agent("ada", role="admin", staff=True),
                "bea": make_agent("bea", teams=[beta]),
                "outsider": UserFactory(username="outsider"),
            }
        finally:
            django_settings.PASSWORD_HASHERS = hashers
        alpha.lead = users["leo"]
        alpha.save()
        objects = {}
        for target, team, mark in (("own", alpha, OWN_MARK), ("other", beta, OTHER_MARK)):
            organisation = Organisation.objects.create(name=f"{target} org")
            customer = CustomerFactory(
                email=f"{target}-customer@example.test", name=f"{mark} person", organisation=organisation
            )
            case = open_case(
                subject=f"{mark} widget", description=f"{mark} body", customer=customer, team=team
            )
            services.case_add_message(case=case, kind="reply", body=f"{mark} reply", actor=None)
            task = services.case_add_task(case=case, title=f"{mark} task", actor=None)
            attachment = services.case_add_attachment(
                case=case, filename="a.txt", content=b"x", content_type="text/plain", actor=None
            )
            case.refresh_from_db()
            assert case.team_id == team.pk, "the matrix needs the case to stay in its team"
            objects[target] = {
                "case": case,
                "customer": customer,
                "organisation": organisation,
                "team": team,
                "agent": users["ann"] if target == "own" else users["bea"],
                "task": Task.objects.get(pk=task.pk),
                "attachment": attachment,
                "message": case.messages.order_by("id").first(),
                "rule": TriageRule.objects.order_by("id").first(),
            }
        tokens = {}
        for name in ("ann", "leo", "max", "ada", "outsider"):
            tokens[name] = ApiToken.issue(users[name], name="matrix", scopes=["read", "write", "admin"])[1]
        _add_people_objects(objects, users)
        django_settings.MEDIA_ROOT = media
        yield {"users": users, "objects": objects, "tokens": tokens, "media": media_root}
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


def _add_people_objects(objects: dict, users: dict) -> None:
    """Objects that belong to a person (OWNER rules: ann's unless the rule says otherwise), shared ones
    (articles, macros), and a CSAT review on each team's case."""
    from django.utils import timezone

    from casework.csat.models import CsatAnswer, CsatReview
    from casework.insights.models import DuplicateSuggestion, EngineeringLink, KnowledgeGap, Problem
    from casework.knowledge import services as knowledge
    from casework.knowledge.models import Macro, ReplyDraft
    from casework.notify.models import Notification
    from casework.privacy.models import RetentionPolicy
    from casework.reports.models import SavedReport
    from casework.web.models import SavedView

    now = timezone.now()
    ann = users["ann"]
    article = knowledge.article_create(
        title="Resetting a password", body="Use the link.", actor=ann, status="published", visibility="public"
    )
    problem = Problem.objects.create(title="Exports fail", owner=users["leo"], created_at=now, updated_at=now)
    shared = {
        "problem": problem,
        "link": EngineeringLink.objects.create(
            system="github", case=objects["own"]["case"], created_at=now, updated_at=now
        ),
        "article": article,
        "public_slug": article.slug,
        "macro": Macro.objects.create(name="Thanks", body="Thanks for writing."),
        "notification": Notification.objects.create(
            user=ann, kind="matrix", title="For ann", dedup_key="matrix-ann", created_at=now
        ),
        "view_id": SavedView.objects.create(owner=ann, name="Mine", query="view=open"),
        "token_id": ApiToken.objects.get(user=ann, name="matrix"),
        "saved_report": SavedReport.objects.create(owner=users["leo"], name="Weekly", metric="volume"),
        "policy": RetentionPolicy.objects.create(name="Matrix policy", action="keep"),
        "gap": KnowledgeGap.objects.create(
            source="category",
            key="authentication",
            label="Authentication",
            case_count=5,
            window_days=30,
            min_score=2.0,
            created_at=now,
            updated_at=now,
        ),
    }
    for obj in objects.values():
        case = obj["case"]
        answer = CsatAnswer.objects.create(
            case=case, customer=obj["customer"], score=1, first_answered_at=now, answered_at=now
        )
        obj.update(shared)
        obj["review"] = CsatReview.objects.create(
            answer=answer, case=case, team=obj["team"], lead=obj["team"].lead, opening_score=1, opened_at=now
        )
        obj["draft"] = ReplyDraft.objects.create(case=case, requested_by=ann, provider="offline", text="t")
        mark = obj["customer"].name.split()[0]
        twin = open_case(subject=f"{mark} twin", description="d", customer=obj["customer"], team=obj["team"])
        obj["suggestion"] = DuplicateSuggestion.objects.create(
            case=twin, candidate=case, score=0.9, created_at=now
        )


@pytest.fixture
def world(_world, db, settings):
    settings.CASEWORK = {**settings.CASEWORK, "INBOUND_SECRETS": ["matrix-secret"]}
    settings.MEDIA_ROOT = _world["media"]
    return {**_world, "settings": settings}


# --- route enumeration --------------------------------------------------------------------------------------


def web_routes() -> dict[str, URLPattern]:
    found: dict[str, URLPattern] = {}

    def walk(patterns, namespace):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = p.namespace or namespace
                if ns == "admin":
                    found["admin:*"] = p
                    continue
                if str(p.pattern).startswith("api/"):
                    continue  # the API is enumerated from its OpenAPI document
                walk(p.url_patterns, ns)
            elif p.name:
                found[f"{namespace}:{p.name}" if namespace else p.name] = p

    walk(get_resolver().url_patterns, "")
    return found


def api_routes() -> set[str]:
    from casework.api.main import api

    schema = api.get_openapi_schema()
    return {f"{m.upper()} {path}" for path, ops in schema["paths"].items() for m in ops}


def test_every_route_has_a_rule():
    web, api = set(web_routes()), api_routes()
    assert sorted(web - set(WEB_RULES)) == [], "URL without an access rule: add it to WEB_RULES"
    assert sorted(set(WEB_RULES) - web) == [], "rule for a URL that no longer exists"
    assert sorted(api - set(API_RULES)) == [], "API route without an access rule: add it to API_RULES"
    assert sorted(set(API_RULES) - api) == [], "rule for an API route that no longer exists"


# --- running one route --------------------------------------------------------------------------------------


def _value(obj: dict, key: str, rule: Rule):
    """A URL parameter's value: the rule's `args` name a world object (its pk) or give a literal."""
    named = rule.args.get(key, key)
    if named not in obj:
        return named if key in rule.args else None
    value = obj[named]
    return getattr(value, "pk", value)


def _web_url(name: str, pattern: URLPattern, obj: dict, rule: Rule) -> str:
    if name == "admin:*":
        return "/admin/"
    values = {
        "reference": obj["case"].reference,
        "task_id": obj["task"].pk,
        "attachment_id": obj["attachment"].pk,
        "message_id": obj["message"].pk,
        "customer_id": obj["customer"].pk,
        "organisation_id": obj["organisation"].pk,
        "public_token": obj["case"].public_token,
        "rule_id": obj["rule"].pk,
    }
    kwargs = {
        k: values[k] if k in values and k not in rule.args else _value(obj, k, rule)
        for k in pattern.pattern.converters
    }
    url = reverse(name, kwargs=kwargs)
    if rule.method == "GET" and rule.data:
        from urllib.parse import urlencode

        url += "?" + urlencode(_query(rule, obj))
    return url


def _query(rule: Rule, obj: dict) -> dict:
    """A GET rule's query; "{team}" stands for the target's team id."""
    return {k: str(obj["team"].pk) if v == "{team}" else v for k, v in rule.data.items()}


def _api_path(route: str, obj: dict, rule: Rule) -> tuple[str, str]:
    method, path = route.split(" ", 1)
    for key in rule.args:
        path = path.replace("{" + key + "}", str(_value(obj, key, rule)))
    values = {
        "reference": obj["case"].reference,
        "customer_id": obj["customer"].pk,
        "organisation_id": obj["organisation"].pk,
        "rule_id": obj["rule"].pk,
        "username": obj["agent"].username,
        "name": obj["team"].name,
        "task_id": obj["task"].pk,
        "message_id": obj["message"].pk,
    }
    for key, value in values.items():
        path = path.replace("{" + key + "}", str(value))
    return method, path


def _leaks(body: str, target: str, outcome: str, level: str = "") -> list[str]:
    """A refused or hidden answer must not carry the object's data; the customer side never shows a case
    to a session that is not the customer's."""
    if level == PORTAL:
        return [m for m in (OWN_MARK, OTHER_MARK) if m.lower() in body.lower()]
    if outcome == ALLOW:
        return []
    mark = OWN_MARK if target == "own" else OTHER_MARK
    return [mark] if mark.lower() in body.lower() else []


def _run_web(client, world, name, pattern, rule, persona, target):
    client.logout()
    if persona != "anonymous":
        client.force_login(world["users"][persona])
    url = _web_url(name, pattern, world["objects"][target], rule)
    reference = world["objects"][target]["case"].reference  # "{reference}" in form data: the target case's
    data = {k: v.replace("{reference}", reference) if isinstance(v, str) else v for k, v in rule.data.items()}
    response = client.post(url, data) if rule.method == "POST" else client.get(url)
    status = response.status_code
    assert status < 500, f"{persona} {rule.method} {url}: {status}"
    if name == "admin:*" and status == 302:
        # the admin sends everyone it refuses to its own login page
        outcome = LOGIN if persona == "anonymous" else DENY
    elif status == 302 and "/login/?next=" in response.get("Location", ""):
        outcome = LOGIN
    else:
        outcome = classify(status, api=False)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return outcome, content.decode(errors="replace")


def _run_api(client, world, route, rule, persona, target, token=None):
    method, path = _api_path(route, world["objects"][target], rule)
    headers = {}
    if token is None and persona != "anonymous":
        token = world["tokens"][persona]
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if isinstance(rule.body, bytes):
        body, content_type = rule.body, "message/rfc822"
    else:
        # "{reference}" in a body stands for the target case's own reference
        reference = world["objects"][target]["case"].reference
        body, content_type = json.dumps(rule.body or {}).replace("{reference}", reference), "application/json"
    if method == "GET":
        response = client.get(path, _query(rule, world["objects"][target]), **headers)
    else:
        response = getattr(client, method.lower())(path, data=body, content_type=content_type, **headers)
    return classify(response.status_code, api=True), response.content.decode(errors="replace"), response


def _cells(level: str):
    targets = ["own", "other"] if level in (CASE_READ, CASE_WRITE, SELF_OR_LEAD, TEAM_LEAD) else ["own"]
    for hidden in (False, True) if level in (CASE_READ, CASE_WRITE) else (False,):
        for persona in PERSONAS:
            for target in targets:
                yield persona, target, hidden


def _in_rollback(fn):
    """Each cell runs on the same world and leaves it as it found it."""
    with transaction.atomic():
        result = fn()
        transaction.set_rollback(True)
    return result


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(WEB_RULES))
def test_web_matrix(name, world, client):
    pattern, rule = web_routes()[name], WEB_RULES[name]
    wrong = []
    for persona, target, hidden in _cells(rule.level):
        world["settings"].CASEWORK = {
            **world["settings"].CASEWORK,
            "OTHER_TEAMS": "hidden" if hidden else "read",
        }
        want = expected(rule.level, persona, target, hidden, rule.owner)
        got, body = _in_rollback(lambda: _run_web(client, world, name, pattern, rule, persona, target))  # noqa: B023
        if got not in (want if isinstance(want, set) else {want}) or _leaks(body, target, got, rule.level):
            wrong.append((persona, target, "hidden" if hidden else "read", f"want {want}", f"got {got}"))
    assert wrong == []


@pytest.mark.django_db
@pytest.mark.parametrize("route", sorted(API_RULES))
def test_api_matrix(route, world, client):
    rule = API_RULES[route]
    wrong = []
    for persona, target, hidden in _cells(rule.level):
        world["settings"].CASEWORK = {
            **world["settings"].CASEWORK,
            "OTHER_TEAMS": "hidden" if hidden else "read",
        }
        want = expected(rule.level, persona, target, hidden, rule.owner)
        got, body, response = _in_rollback(lambda: _run_api(client, world, route, rule, persona, target))  # noqa: B023
        if got not in (want if isinstance(want, set) else {want}) or _leaks(body, target, got, rule.level):
            wrong.append((persona, target, "hidden" if hidden else "read", f"want {want}", f"got {got}"))
        if got != ALLOW and response.status_code != 204:
            assert response["Content-Type"].startswith("application/json")
            assert "error" in response.json()
    assert wrong == []
    if rule.level == SECRET:
        got, _, response = _in_rollback(
            lambda: _run_api(client, world, route, rule, "anonymous", "own", "matrix-secret")
        )
        assert got == ALLOW, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("route", sorted(r for r, rule in API_RULES.items() if rule.level != SECRET))
def test_api_scopes(route, world, client):
    """The admin persona with a token lacking the operation's scope is refused (403); with it, allowed."""
    from casework.api.auth import required_scope

    rule = API_RULES[route]
    method = route.split(" ", 1)[0]
    needed = required_scope(method, rule.scope)
    lacking = {"read": [], "write": ["read"], "admin": ["read", "write"]}[needed]
    ada = world["users"]["ada"]
    if lacking:
        raw = ApiToken.issue(ada, name="narrow", scopes=lacking)[1]
        got, _, response = _in_rollback(lambda: _run_api(client, world, route, rule, "ada", "own", raw))
        assert got == DENY, (route, needed, response.content)
    raw = ApiToken.issue(ada, name="exact", scopes=[needed])[1]
    got, _, response = _in_rollback(lambda: _run_api(client, world, route, rule, "ada", "own", raw))
    # past the scope check: allowed, or (another person's object) not found
    assert got == ALLOW or (rule.level == OWNER and got == HIDE), (route, needed, response.content)


@pytest.mark.django_db
def test_hidden_other_teams_leave_no_trace_in_lists(world, client):
    """With other teams hidden, an agent's lists and counts hold only what they may see."""
    world["settings"].CASEWORK = {**world["settings"].CASEWORK, "OTHER_TEAMS": "hidden"}
    client.force_login(world["users"]["ann"])
    for url in (
        "/?view=all",
        "/?view=all&q=" + OTHER_MARK,
        f"/customers/{world['objects']['other']['customer'].pk}/",
    ):
        body = client.get(url).content.decode()
        assert OTHER_MARK + " widget" not in body, url
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world['tokens']['ann']}"}
    listed = client.get("/api/v1/cases", {"view": "all"}, **headers).json()
    assert sorted(c["subject"] for c in listed["items"]) == [f"{OWN_MARK} twin", f"{OWN_MARK} widget"]
    manager = {"HTTP_AUTHORIZATION": f"Bearer {world['tokens']['max']}"}
    assert client.get("/api/v1/cases", {"view": "all"}, **manager).json()["count"] == 4
