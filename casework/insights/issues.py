"""Engineering links: a case or a problem linked to a Jira or GitHub issue.

- **Create**: `link_create_issue` (a door) writes the link (`pending`) and an `IssueOutbox` row with the
  request body — summary, reproduction notes (the case's description), how many cases and customers are
  affected — in the asking write. The worker's `insights-issue-outbox` job claims due rows with a lease
  (a conditional UPDATE), POSTs them (Jira: `<JIRA_URL>/rest/api/2/issue`; GitHub:
  `<GITHUB_URL>/repos/<GITHUB_REPO>/issues`), and stores the answer's key and URL on the link (a note on
  the linked cases' timelines). Transient failures retry with backoff, 4xx fail at once and say why.
- **Link an existing one**: `link_existing` parses a key (`OPS-12`, `owner/repo#34`) or a URL.
- **Inbound webhooks** (`webhooks.py`): HMAC-SHA256 of the raw body with the system's own secret
  (`X-Hub-Signature-256` for GitHub, `X-Hub-Signature` for Jira, both `sha256=<hex>`); anything else is
  403. A closed/released issue moves the link's state, notifies the owner (the problem's owner or the
  case's assignee) once, and offers "resolve the linked cases" in one step (`services.cases_resolve`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from casework.cases.models import Case
from casework.cases.services.unit_of_work import door
from casework.core import clock
from casework.core.errors import ValidationFailed
from casework.notify import engine

from .models import EngineeringLink, IssueOutbox, LinkState, LinkSystem, Problem, ProblemCase
from .services import _note

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 6
CLOSED_STATES = {"closed", "released", "done", "resolved"}


def linked_cases(link: EngineeringLink) -> list[Case]:
    if link.problem_id:
        return [
            pc.case
            for pc in ProblemCase.objects.filter(
                problem_id=link.problem_id, state=LinkState.LINKED
            ).select_related("case")
        ]
    return [link.case] if link.case_id else []


def issue_payload(system: str, *, case: Case | None, problem: Problem | None) -> tuple[str, dict]:
    conf = settings.CASEWORK
    cases = [case] if case is not None else []
    if problem is not None:
        cases = [
            pc.case
            for pc in ProblemCase.objects.filter(problem=problem, state=LinkState.LINKED).select_related(
                "case"
            )
        ]
    customers = len({c.customer_id for c in cases})
    title = problem.title if problem is not None else case.subject
    repro = (problem.root_cause if problem is not None else "") or (cases[0].description if cases else "")
    refs = ", ".join(c.reference for c in cases[:50])
    body = (
        f"{title}\n\nReproduction notes:\n{repro[:5000]}\n\n"
        f"Affected: {len(cases)} case(s), {customers} customer(s): {refs}\n"
        f"Reported from casework {problem.reference if problem else case.reference}."
    )
    if system == LinkSystem.JIRA:
        if not conf["JIRA_URL"]:
            raise ValidationFailed("Jira is not configured (CASEWORK_JIRA_URL)", code="jira_not_configured")
        endpoint = conf["JIRA_URL"].rstrip("/") + "/rest/api/2/issue"
        payload = {
            "fields": {
                "project": {"key": conf["JIRA_PROJECT"]},
                "summary": title[:250],
                "description": body,
                "issuetype": {"name": "Bug"},
            }
        }
    else:
        if not conf["GITHUB_REPO"]:
            raise ValidationFailed(
                "GitHub is not configured (CASEWORK_GITHUB_REPO)", code="github_not_configured"
            )
        endpoint = f"{conf['GITHUB_URL'].rstrip('/')}/repos/{conf['GITHUB_REPO']}/issues"
        payload = {"title": title[:250], "body": body}
    return endpoint, payload


def _check_target(system: str, case: Case | None, problem: Problem | None) -> None:
    if system not in LinkSystem.values:
        raise ValidationFailed(
            f"Unknown system '{system}'", code="invalid_system", details={"allowed": list(LinkSystem.values)}
        )
    if (case is None) == (problem is None):
        raise ValidationFailed("Link either a case or a problem", code="link_target")


@door
def link_create_issue(
    *, system: str, actor: Any, case: Case | None = None, problem: Problem | None = None
) -> EngineeringLink:
    _check_target(system, case, problem)
    endpoint, payload = issue_payload(system, case=case, problem=problem)
    now = clock.now()
    link = EngineeringLink.objects.create(
        system=system,
        case=case,
        problem=problem,
        issue_state="pending",
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    IssueOutbox.objects.create(
        link=link, endpoint=endpoint, payload=payload, next_attempt_at=now, created_at=now
    )
    for c in linked_cases(link):
        _note(
            c,
            actor,
            f"A {link.get_system_display()} issue is being created for "
            f"{problem.reference if problem else 'this case'}.",
            link=link.pk,
        )
    return link


_JIRA_KEY = re.compile(r"^[A-Z][A-Z0-9_]+-\d+$")
_GH_KEY = re.compile(r"^[\w.-]+/[\w.-]+#\d+$")
_GH_URL = re.compile(r"^https?://[^/]+/([\w.-]+)/([\w.-]+)/issues/(\d+)")
_JIRA_URL = re.compile(r"^https?://[^ ]+/browse/([A-Z][A-Z0-9_]+-\d+)")


def parse_reference(system: str, value: str) -> tuple[str, str]:
    """(key, url) from what a person pasted: a key or an issue URL."""
    value = (value or "").strip()
    if system == LinkSystem.GITHUB:
        if m := _GH_URL.match(value):
            return f"{m[1]}/{m[2]}#{m[3]}", value
        if _GH_KEY.match(value):
            repo, number = value.split("#")
            return value, f"https://github.com/{repo}/issues/{number}"
    else:
        if m := _JIRA_URL.match(value):
            return m[1], value
        if _JIRA_KEY.match(value):
            base = settings.CASEWORK["JIRA_URL"].rstrip("/")
            return value, f"{base}/browse/{value}" if base else ""
    raise ValidationFailed(
        f"'{value[:100]}' is not a {system} issue key or URL", code="invalid_issue_reference"
    )


@door
def link_existing(
    *, system: str, reference: str, actor: Any, case: Case | None = None, problem: Problem | None = None
) -> EngineeringLink:
    _check_target(system, case, problem)
    key, url = parse_reference(system, reference)
    now = clock.now()
    link = EngineeringLink.objects.create(
        system=system,
        case=case,
        problem=problem,
        key=key,
        url=url,
        issue_state="open",
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    for c in linked_cases(link):
        _note(c, actor, f"Linked to {link.get_system_display()} issue {key}.", link=link.pk, key=key)
    return link


def _owner(link: EngineeringLink):
    if link.problem_id and link.problem.owner_id:
        return link.problem.owner
    if link.case_id and link.case.assignee_id:
        return link.case.assignee
    return link.created_by


@door
def link_set_state(*, link: EngineeringLink, issue_state: str, actor: Any = "webhook") -> EngineeringLink:
    """An issue moved (webhook): store it; closed/released → the owner is told once and may resolve the
    linked cases in one step."""
    link = (
        # Only the link's row is locked: FOR UPDATE cannot reach the nullable side of the outer joins
        # (PostgreSQL refuses; SQLite ignores it).
        EngineeringLink.objects.select_for_update(of=("self",))
        .select_related("problem__owner", "case__assignee")
        .get(pk=link.pk)
    )
    issue_state = issue_state.lower()[:20]
    if link.issue_state == issue_state:
        return link
    link.issue_state = issue_state
    link.updated_at = clock.now()
    link.save(update_fields=["issue_state", "updated_at"])
    cases = linked_cases(link)
    for c in cases:
        _note(
            c,
            actor,
            f"{link.get_system_display()} issue {link.key} is now {issue_state}.",
            link=link.pk,
            issue_state=issue_state,
        )
    if issue_state in CLOSED_STATES and link.closed_notified_at is None and cases:
        owner = _owner(link)
        if owner is not None:
            from django.urls import reverse

            engine.send(
                "engineering_issue_closed",
                case=cases[0],
                to_agents=[owner],
                context={
                    "key": link.key,
                    "issue_state": issue_state,
                    "cases": len(cases),
                    "url": settings.BASE_URL + reverse("insights:link", args=[link.pk]),
                },
                dedup_key=f"issue-closed:{link.pk}",
            )
        EngineeringLink.objects.filter(pk=link.pk).update(closed_notified_at=clock.now())
    return link


@door
def link_created(*, link: EngineeringLink, key: str, url: str) -> None:
    EngineeringLink.objects.filter(pk=link.pk).update(
        key=key[:100], url=url[:500], issue_state="open", updated_at=clock.now()
    )
    for c in linked_cases(link):
        _note(c, "insights", f"{link.get_system_display()} issue {key} created: {url}", link=link.pk, key=key)


@door
def link_failed(*, link: EngineeringLink, error: str) -> None:
    EngineeringLink.objects.filter(pk=link.pk).update(
        issue_state="failed", last_error=error[:2000], updated_at=clock.now()
    )
    for c in linked_cases(link):
        _note(
            c,
            "insights",
            f"The {link.get_system_display()} issue could not be created: {error[:300]}",
            link=link.pk,
            error=error[:300],
        )


# --- delivery (the worker) ------------------------------------------------------------------------------


class PermanentFailure(Exception):
    pass


def _post(row: IssueOutbox, system: str) -> tuple[str, str]:
    conf = settings.CASEWORK
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Idempotency-Key": f"casework-issue-{row.link_id}",
    }
    token = conf["JIRA_TOKEN"] if system == LinkSystem.JIRA else conf["GITHUB_TOKEN"]
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        row.endpoint, data=json.dumps(row.payload).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            answer = json.loads(response.read(1_000_000) or b"{}")
    except urllib.error.HTTPError as exc:
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            raise PermanentFailure(f"HTTP {exc.code}: {exc.read(500).decode('utf-8', 'replace')}") from exc
        raise
    if system == LinkSystem.JIRA:
        key = str(answer.get("key", ""))
        base = conf["JIRA_URL"].rstrip("/")
        return key, f"{base}/browse/{key}"
    number = answer.get("number")
    return f"{conf['GITHUB_REPO']}#{number}", str(answer.get("html_url", ""))


def _claim(row_id: int, now) -> bool:
    return bool(
        IssueOutbox.objects.filter(pk=row_id, state="pending")
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(lease_expires_at=now + LEASE)
    )


def deliver_due(limit: int = 20) -> dict:
    now = clock.now()
    due = list(
        IssueOutbox.objects.filter(state="pending", next_attempt_at__lte=now)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .values_list("pk", flat=True)[:limit]
    )
    counts = {"sent": 0, "failed": 0, "retry": 0}
    for pk in due:
        if not _claim(pk, now):
            continue
        row = IssueOutbox.objects.select_related("link").get(pk=pk)
        try:
            key, url = _post(row, row.link.system)
        except PermanentFailure as exc:
            with transaction.atomic():
                IssueOutbox.objects.filter(pk=pk).update(
                    state="failed", last_error=str(exc)[:2000], attempts=row.attempts + 1
                )
                link_failed(link=row.link, error=str(exc))
            counts["failed"] += 1
            continue
        except (OSError, ValueError) as exc:
            attempts = row.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                with transaction.atomic():
                    IssueOutbox.objects.filter(pk=pk).update(
                        state="failed", attempts=attempts, last_error=str(exc)[:2000]
                    )
                    link_failed(link=row.link, error=str(exc))
                counts["failed"] += 1
            else:
                IssueOutbox.objects.filter(pk=pk).update(
                    attempts=attempts,
                    last_error=str(exc)[:2000],
                    lease_expires_at=None,
                    next_attempt_at=clock.now() + timedelta(seconds=30 * 2 ** (attempts - 1)),
                )
                counts["retry"] += 1
            continue
        with transaction.atomic():
            IssueOutbox.objects.filter(pk=pk).update(
                state="sent", sent_at=clock.now(), attempts=row.attempts + 1
            )
            link_created(link=row.link, key=key, url=url)
        counts["sent"] += 1
    return counts


# --- inbound webhooks ---------------------------------------------------------------------------------


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    """`header` is `sha256=<hex HMAC-SHA256 of the raw body>`; an empty secret accepts nothing."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def parse_github(event: str, payload: dict) -> tuple[str, str] | None:
    """(key, state) from a GitHub `issues` or `release` event."""
    if event == "issues" and isinstance(payload.get("issue"), dict):
        repo = (payload.get("repository") or {}).get("full_name", "")
        number = payload["issue"].get("number")
        state = str(payload["issue"].get("state") or payload.get("action") or "")
        return f"{repo}#{number}", state
    return None


def parse_jira(payload: dict) -> tuple[str, str] | None:
    issue = payload.get("issue")
    if not isinstance(issue, dict) or not issue.get("key"):
        return None
    status = (((issue.get("fields") or {}).get("status") or {}).get("name") or "").lower()
    versions = (issue.get("fields") or {}).get("fixVersions") or []
    if any(isinstance(v, dict) and v.get("released") for v in versions):
        status = "released"
    return str(issue["key"]), status or "open"


def apply_webhook(system: str, key: str, state: str) -> int:
    links = list(EngineeringLink.objects.filter(system=system, key=key))
    for link in links:
        link_set_state(link=link, issue_state=state, actor=f"webhook:{system}")
    return len(links)
