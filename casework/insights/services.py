"""The doors of insights: every write to suggestions, clusters, problems and their cases goes through one of
these keyword-only functions, each one write (`@door`: one transaction, the reaction pipeline, one flush),
each explaining itself on the timeline of every case it touches (a `note` event with `data.insights`).
Notifications go through `notify.engine.send` in the same write (outbox rows), keyed by their trigger."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db.models import Count

from casework.cases.models import Case, EventKind
from casework.cases.services import (
    SystemEvent,
    case_merge,
    case_record_system_event,
    case_record_system_events,
    case_transition,
)
from casework.cases.services.unit_of_work import door
from casework.cases.status import OPEN_STATUSES, Status, transition_for
from casework.core import clock
from casework.core.errors import InvalidTransition, NotFound, ValidationFailed
from casework.notify import engine

from .models import (
    Cluster,
    ClusterMember,
    DuplicateSuggestion,
    LinkState,
    Problem,
    ProblemCase,
    ProblemState,
    SuggestionState,
)
from .similarity import Assignment, Match


def _note(case: Case, actor: Any, reason: str, **data: Any) -> None:
    case_record_system_event(
        case=case, kind=EventKind.NOTE, actor=actor or "insights", reason=reason, data={"insights": data}
    )


# --- duplicates -------------------------------------------------------------------------------------


@door
def suggestions_record(*, case: Case, matches: Sequence[tuple[Case, Match]]) -> list[DuplicateSuggestion]:
    """Store the duplicate task's suggestions for `case` and say so on its timeline."""
    existing = set(DuplicateSuggestion.objects.filter(case=case).values_list("candidate_id", flat=True))
    now = clock.now()
    made = []
    for candidate, match in matches:
        if candidate.pk in existing or candidate.pk == case.pk:
            continue
        made.append(
            DuplicateSuggestion.objects.create(
                case=case,
                candidate=candidate,
                score=round(match.score, 4),
                signals=match.as_data(),
                why=match.why()[:500],
                created_at=now,
            )
        )
    if made:
        threshold = settings.CASEWORK["DUPLICATE_THRESHOLD"]
        lines = "; ".join(f"{s.candidate.reference} ({s.score:.2f}: {s.why})" for s in made)
        _note(
            case,
            "insights",
            f"Possible duplicate of {lines}. Scores ≥ {threshold} are suggested "
            "(TF-IDF words and spelling, subject likeness).",
            duplicates=[{"reference": s.candidate.reference, **s.signals} for s in made],
        )
    return made


def _suggestion_for_update(suggestion: DuplicateSuggestion) -> DuplicateSuggestion:
    fresh = (
        DuplicateSuggestion.objects.select_for_update(of=("self",))
        .select_related("case", "candidate")
        .get(pk=suggestion.pk)
    )
    if fresh.state != SuggestionState.PROPOSED:
        raise InvalidTransition(
            f"This suggestion was already decided ({fresh.get_state_display()})", code="suggestion_decided"
        )
    return fresh


def merge_target(case: Case) -> Case:
    """The case a merge into `case` lands on: follows earlier merges (at most a few hops)."""
    for _ in range(10):
        if not case.merged_into_id:
            return case
        case = Case.objects.get(pk=case.merged_into_id)
    return case


@door
def duplicate_merge(*, suggestion: DuplicateSuggestion, actor: Any) -> Case:
    """One click: the newer case is folded into the older one (cases.services.case_merge: messages move,
    both references keep resolving), the suggestion is marked merged, and the customer is told by the
    `duplicate_merged` notification."""
    suggestion = _suggestion_for_update(suggestion)
    source, target = suggestion.case, merge_target(suggestion.candidate)
    if source.created_at < target.created_at and target.status != Status.CLOSED:
        # The case that carries on is the older one.
        source, target = target, source
    if target.pk == source.pk:
        raise ValidationFailed("These cases were already merged", code="merge_self")
    score = f"{suggestion.score:.2f}"
    merged = case_merge(
        source=source,
        target=target,
        actor=actor,
        reason=f"Duplicate suggestion accepted (score {score}: {suggestion.why})",
    )
    DuplicateSuggestion.objects.filter(pk=suggestion.pk).update(
        state=SuggestionState.MERGED, decided_by=actor, decided_at=clock.now()
    )
    engine.send(
        "duplicate_merged",
        case=merged,
        to_customer=source.customer,
        context={"duplicate": source.reference, "into": merged.reference},
        dedup_key=f"dupmerge:{source.pk}",
    )
    return merged


@door
def duplicate_dismiss(*, suggestion: DuplicateSuggestion, actor: Any) -> DuplicateSuggestion:
    """ "Not a duplicate": remembered for the pair, either way round, so it is never proposed again."""
    suggestion = _suggestion_for_update(suggestion)
    DuplicateSuggestion.objects.filter(pk=suggestion.pk).update(
        state=SuggestionState.DISMISSED, decided_by=actor, decided_at=clock.now()
    )
    _note(
        suggestion.case,
        actor,
        f"Not a duplicate of {suggestion.candidate.reference} (suggested at {suggestion.score:.2f}); "
        "this pair will not be suggested again.",
        dismissed=suggestion.candidate.reference,
    )
    suggestion.refresh_from_db()
    return suggestion


# --- clusters ---------------------------------------------------------------------------------------


def _incident_recipients(cases: Iterable[Case]) -> list[Any]:
    from django.contrib.auth import get_user_model

    leads = {c.team.lead for c in cases if c.team_id and c.team.lead_id}
    if leads:
        return sorted(leads, key=lambda u: u.pk)
    # No team lead on any of them: the staff users (administrators) hear about it.
    return list(get_user_model().objects.filter(is_staff=True, is_active=True).order_by("pk")[:5])


@door
def clusters_apply(
    *,
    assignments: Sequence[Assignment],
    cases: dict[int, Case],
    url: str = "",
    snapshot: Any = None,
    now: Any = None,
    window_clusters: dict[int, int] | None = None,
) -> dict:
    """Write one batch of the clustering job's decisions: new clusters, members, a timeline note per case
    saying which cluster it joined and why, proposals to the problem a cluster became, and the "possible
    incident" alert for clusters that reached the threshold — once per cluster (`alerted_at`, and the
    key). Set-based: a fixed number of statements per batch, whatever its size (a catch-up over 100,000
    cases is a few dozen batches). `window_clusters`: the cluster of each already clustered case in
    `cases` (their subjects name the cluster with the new ones)."""
    from . import grouping, vectorising

    conf = settings.CASEWORK
    stamp = clock.now()
    now = now or stamp
    snapshot = snapshot or vectorising.ensure_space().snapshot
    existing_ids = {a.cluster for a in assignments if not isinstance(a.cluster, tuple)}
    clusters = {c.pk: c for c in Cluster.objects.select_for_update().filter(pk__in=existing_ids)}
    founders = [a for a in assignments if a.cluster == ("new", a.key)]
    fresh = [
        Cluster(
            label=(cases[a.key].subject or "")[:200],
            size=0,
            first_case_at=cases[a.key].created_at,
            last_case_at=cases[a.key].created_at,
            created_at=stamp,
        )
        for a in founders
    ]
    Cluster.objects.bulk_create(fresh)
    created = {a.cluster: c for a, c in zip(founders, fresh, strict=True)}
    touched: dict[int, Cluster] = {}
    subjects: dict[int, list[str]] = {}
    for case_id, cluster_id in (window_clusters or {}).items():
        if case_id in cases:
            subjects.setdefault(cluster_id, []).append(cases[case_id].subject or "")
    members, notes, joined = [], [], []
    threshold = conf["CLUSTER_THRESHOLD"]
    for a in assignments:
        case = cases[a.key]
        cluster = created[a.cluster] if isinstance(a.cluster, tuple) else clusters[a.cluster]
        touched[cluster.pk] = cluster
        cluster.size += 1
        cluster.first_case_at = min(cluster.first_case_at, case.created_at)
        cluster.last_case_at = max(cluster.last_case_at, case.created_at)
        subjects.setdefault(cluster.pk, []).append(case.subject or "")
        members.append(
            ClusterMember(
                cluster=cluster,
                case_id=case.pk,
                matched_id=a.matched,
                score=round(a.score, 4),
                case_created_at=case.created_at,
                created_at=stamp,
            )
        )
        joined.append((cluster, case, a.score))
        if a.matched is not None:
            matched = cases.get(a.matched) or Case.objects.only("reference").get(pk=a.matched)
            words = ", ".join(a.shared[:6]) or "similar wording"
            notes.append(
                SystemEvent(
                    case=case,
                    kind=EventKind.NOTE,
                    reason=f"Grouped with similar cases (cluster #{cluster.pk}): most like "
                    f"{matched.reference} ({a.score:.2f} ≥ {threshold}; shared words: {words}).",
                    data={
                        "insights": {
                            "cluster": cluster.pk,
                            "matched": matched.reference,
                            "score": round(a.score, 4),
                            "shared": list(a.shared),
                        }
                    },
                )
            )
    ClusterMember.objects.bulk_create(members, batch_size=1000)
    for pk, cluster in touched.items():
        if cluster.size > 1:
            cluster.label = grouping.label(subjects[pk][-50:], snapshot)[:200] or cluster.label
    Cluster.objects.bulk_update(
        list(touched.values()), ["size", "label", "first_case_at", "last_case_at"], batch_size=1000
    )
    proposed = _propose_to_problems(touched, joined, stamp, notes)
    alerts = _raise_incidents(touched, now, url, notes)
    case_record_system_events(events=notes, actor="insights", related=False)
    return {"assigned": len(assignments), "clusters": len(fresh), "proposed": proposed, "alerts": alerts}


def _propose_to_problems(touched: dict[int, Cluster], joined: list, stamp, notes: list) -> int:
    """A case that joined a problem's cluster is proposed to the problem (a note says so)."""
    problems = {p.cluster_id: p for p in Problem.objects.filter(cluster_id__in=list(touched))}
    if not problems:
        return 0
    linked = set(
        ProblemCase.objects.filter(problem__in=problems.values()).values_list("problem_id", "case_id")
    )
    rows = []
    for cluster, case, score in joined:
        problem = problems.get(cluster.pk)
        if problem is None or (problem.pk, case.pk) in linked:
            continue
        rows.append(
            ProblemCase(
                problem=problem,
                case=case,
                state=LinkState.PROPOSED,
                source="proposed",
                score=round(score, 4),
                created_at=stamp,
            )
        )
        after = " (after it was resolved)" if problem.state == ProblemState.RESOLVED else ""
        notes.append(
            SystemEvent(
                case=case,
                kind=EventKind.NOTE,
                reason=f"Proposed for problem {problem.reference} “{problem.title}”{after}: "
                f"it joined the problem's cluster #{cluster.pk}.",
                data={"insights": {"problem": problem.pk, "proposed": True}},
            )
        )
    ProblemCase.objects.bulk_create(rows)
    return len(rows)


def _raise_incidents(touched: dict[int, Cluster], now, url: str, notes: list) -> int:
    """The "possible incident" alert, once per cluster: ≥ INCIDENT_MIN_CASES members created within
    INCIDENT_WINDOW_HOURS of its newest. Only for clusters active within CLUSTER_WINDOW_HOURS of now: a
    catch-up over old cases does not page anyone about last year."""
    conf = settings.CASEWORK
    hours = conf["INCIDENT_WINDOW_HOURS"]
    active_since = now - _hours(conf["CLUSTER_WINDOW_HOURS"])
    candidates = {
        pk: c
        for pk, c in touched.items()
        if c.alerted_at is None and c.size >= conf["INCIDENT_MIN_CASES"] and c.last_case_at >= active_since
    }
    if not candidates:
        return 0
    earliest = min(c.last_case_at for c in candidates.values()) - _hours(hours)
    recent: dict[int, list[ClusterMember]] = {}
    for m in (
        ClusterMember.objects.filter(cluster_id__in=list(candidates), case_created_at__gte=earliest)
        .select_related("case__team__lead")
        .order_by("case_created_at", "id")
    ):
        if m.case_created_at >= candidates[m.cluster_id].last_case_at - _hours(hours):
            recent.setdefault(m.cluster_id, []).append(m)
    alerts = 0
    for pk, cluster in candidates.items():
        members = recent.get(pk, [])
        if len(members) < conf["INCIDENT_MIN_CASES"]:
            continue
        Cluster.objects.filter(pk=pk).update(alerted_at=now)
        cluster.alerted_at = now
        refs = [m.case.reference for m in members]
        for m in members:
            notes.append(
                SystemEvent(
                    case=m.case,
                    kind=EventKind.NOTE,
                    reason=f"Possible incident raised: {len(members)} similar cases within {hours} h in "
                    f"cluster #{pk} ({cluster.label}); threshold {conf['INCIDENT_MIN_CASES']}.",
                    data={"insights": {"incident": pk, "references": refs}},
                )
            )
        engine.send(
            "possible_incident",
            case=members[-1].case,
            to_agents=_incident_recipients(m.case for m in members),
            context={
                "count": len(members),
                "hours": hours,
                "label": cluster.label,
                "references": refs,
                "url": url,
            },
            dedup_key=f"incident:{pk}",
        )
        alerts += 1
    return alerts


def _hours(n: float):
    from datetime import timedelta

    return timedelta(hours=n)


# --- problems ---------------------------------------------------------------------------------------


def _validate_problem(title: str, state: str | None = None) -> None:
    if not title or not title.strip():
        raise ValidationFailed("A problem needs a title", code="title_required")
    if state is not None and state not in ProblemState.values:
        raise ValidationFailed(
            f"Unknown state '{state}'", code="invalid_state", details={"allowed": list(ProblemState.values)}
        )


@door
def problem_create(
    *,
    title: str,
    actor: Any,
    owner: Any = None,
    root_cause: str = "",
    action: str = "",
    cluster: Cluster | None = None,
    cases: Sequence[Case] = (),
) -> Problem:
    """A lead turns a cluster (or a hand-picked set of cases) into an owned problem."""
    _validate_problem(title)
    if cluster is not None and Problem.objects.filter(cluster=cluster).exists():
        raise InvalidTransition("This cluster is already a problem", code="cluster_taken")
    now = clock.now()
    problem = Problem.objects.create(
        title=title.strip()[:200],
        owner=owner,
        root_cause=root_cause,
        action=action,
        cluster=cluster,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    members = list(cases)
    if cluster is not None:
        # A merged case carries on as its target: the target is linked (once), not the closed duplicate.
        members += [
            merge_target(m.case) for m in ClusterMember.objects.filter(cluster=cluster).select_related("case")
        ]
    problem_link_cases(problem=problem, cases=members, actor=actor, source="cluster" if cluster else "manual")
    return problem


EDITABLE = ("title", "owner", "root_cause", "action")


@door
def problem_update(*, problem: Problem, actor: Any, state: str | None = None, **fields: Any) -> Problem:
    """Change a problem's fields or state (to resolve it, use `problem_resolve`: it needs the note)."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(f"Cannot change {sorted(unknown)}", code="invalid_field")
    problem = Problem.objects.select_for_update().get(pk=problem.pk)
    _validate_problem(fields.get("title", problem.title), state)
    if state == ProblemState.RESOLVED:
        raise ValidationFailed("Resolving a problem needs a resolution note", code="resolution_note_required")
    changes = []
    for name, value in fields.items():
        if getattr(problem, name) != value:
            setattr(problem, name, value)
            changes.append(name)
    if state is not None and state != problem.state:
        if problem.state == ProblemState.RESOLVED:
            problem.resolved_at = None
            changes.append("resolved_at")
        problem.state = state
        changes.append("state")
    if changes:
        problem.updated_at = clock.now()
        problem.save(update_fields=[*changes, "updated_at"])
    return problem


@door
def problem_link_cases(
    *, problem: Problem, cases: Iterable[Case], actor: Any, source: str = "manual"
) -> list[ProblemCase]:
    """Link cases to the problem (a proposed link is accepted); each case's timeline says so."""
    now = clock.now()
    links = {pc.case_id: pc for pc in ProblemCase.objects.filter(problem=problem)}
    made = []
    for case in sorted({c.pk: c for c in cases}.values(), key=lambda c: c.pk):
        link = links.get(case.pk)
        if link is not None and link.state == LinkState.LINKED:
            continue
        if link is None:
            link = ProblemCase.objects.create(
                problem=problem,
                case=case,
                state=LinkState.LINKED,
                source=source,
                linked_by=actor,
                created_at=now,
            )
        else:
            ProblemCase.objects.filter(pk=link.pk).update(state=LinkState.LINKED, linked_by=actor)
        _note(case, actor, f"Linked to problem {problem.reference} “{problem.title}”.", problem=problem.pk)
        made.append(link)
    if made:
        Problem.objects.filter(pk=problem.pk).update(updated_at=now)
    return made


@door
def problem_reject_case(*, problem: Problem, case: Case, actor: Any) -> None:
    """A proposed case does not belong to the problem: it is not proposed again."""
    updated = ProblemCase.objects.filter(problem=problem, case=case, state=LinkState.PROPOSED).update(
        state=LinkState.REJECTED, linked_by=actor
    )
    if not updated:
        raise NotFound("No such proposal", code="proposal_not_found")
    _note(case, actor, f"Not part of problem {problem.reference}.", problem=problem.pk, rejected=True)


@door
def problem_resolve(*, problem: Problem, note: str, actor: Any) -> dict:
    """Resolve the problem: every linked open case gets the resolution note on its timeline and its
    customer the `problem_resolved` notification — exactly once per case (`resolution_sent_at`, set in
    this write, and the notification's key), so running it again, or after a crash, tells nobody twice."""
    if not note or not note.strip():
        raise ValidationFailed(
            "Say what fixed it: the note goes to every linked customer", code="resolution_note_required"
        )
    problem = Problem.objects.select_for_update().get(pk=problem.pk)
    now = clock.now()
    if problem.state != ProblemState.RESOLVED:
        problem.state = ProblemState.RESOLVED
        problem.resolved_at = now
    problem.resolution_note = note.strip()
    problem.updated_at = now
    problem.save(update_fields=["state", "resolved_at", "resolution_note", "updated_at"])
    pending = list(
        ProblemCase.objects.filter(problem=problem, state=LinkState.LINKED, resolution_sent_at__isnull=True)
        .select_related("case__customer")
        .order_by("case_id")
    )
    told = 0
    for link in pending:
        case = link.case
        is_open = case.status in OPEN_STATUSES
        if is_open:
            _note(
                case,
                actor,
                f"Problem {problem.reference} “{problem.title}” was resolved: {problem.resolution_note}",
                problem=problem.pk,
                resolved=True,
            )
            engine.send(
                "problem_resolved",
                case=case,
                to_customer=True,
                context={"problem": problem.title, "note": problem.resolution_note},
                dedup_key=f"problem:{problem.pk}:resolved:{case.pk}",
            )
            told += 1
        ProblemCase.objects.filter(pk=link.pk).update(resolution_sent_at=now, resolution_told=is_open)
    return {"told": told, "links": len(pending)}


# --- engineering links: resolving the linked cases in one step ----------------------------------------


@door
def cases_resolve(*, cases: Iterable[Case], actor: Any, reason: str) -> int:
    """Resolve every open case given (skipping those that cannot be), one write."""
    done = 0
    for case in cases:
        if case.status in OPEN_STATUSES:
            if transition_for(case.status, Status.RESOLVED) is None:
                # New/Triaged cases start work first: the transition table has no shortcut to Resolved.
                case_transition(case=case, to=Status.IN_PROGRESS, actor=actor, reason=reason)
            case_transition(case=case, to=Status.RESOLVED, actor=actor, reason=reason)
            done += 1
    return done


def problem_counts(problems: Iterable[Problem]) -> dict[int, int]:
    ids = [p.pk for p in problems]
    rows = (
        ProblemCase.objects.filter(problem_id__in=ids, state=LinkState.LINKED)
        .values("problem_id")
        .annotate(n=Count("id"))
    )
    return {r["problem_id"]: r["n"] for r in rows}


# --- spikes -----------------------------------------------------------------------------------------


def spikes_record(*, day, findings) -> list:
    """Store the day's spikes (one row per dimension/key/day, updated as the day goes on), with the cases
    of that day listed. Spikes change no case, so no timeline note: the problems page shows them."""
    from datetime import datetime, time, timedelta

    from django.db import transaction
    from django.utils import timezone

    from casework.cases.models import Category
    from casework.people.models import Organisation

    from .models import Spike

    tz = timezone.get_current_timezone()
    lo = timezone.make_aware(datetime.combine(day, time.min), tz)
    hi = lo + timedelta(days=1)
    now = clock.now()
    out = []
    with transaction.atomic():
        for dimension, key, f in findings:
            if dimension == "category":
                label = Category.objects.filter(pk=key).values_list("name", flat=True).first() or key
                refs = Case.objects.filter(category_id=key, created_at__gte=lo, created_at__lt=hi)
            elif dimension == "escalation":
                # The cases escalated that day (tier history), in the category.
                label = Category.objects.filter(pk=key).values_list("name", flat=True).first() or key
                refs = Case.objects.filter(
                    category_id=key,
                    tier_history__entered_by=EventKind.ESCALATED,
                    tier_history__entered_at__gte=lo,
                    tier_history__entered_at__lt=hi,
                ).distinct()
            else:
                label = Organisation.objects.filter(pk=key).values_list("name", flat=True).first() or key
                refs = Case.objects.filter(organisation_id=key, created_at__gte=lo, created_at__lt=hi)
            spike, _ = Spike.objects.update_or_create(
                dimension=dimension,
                key=str(key),
                day=day,
                defaults={
                    "label": str(label)[:200],
                    "count": f.count,
                    "baseline": f.median,
                    "mad": f.mad,
                    "score": round(f.z, 2),
                    "cases": list(refs.order_by("created_at").values_list("reference", flat=True)[:200]),
                    "created_at": now,
                },
            )
            out.append(spike)
    return out
