"""The retention job: apply the policies to closed cases, in batches, after counting what it will do.

For each active policy, the cases it governs (`policies.governed_q`: most specific wins) that are closed:

- attachments purged `purge_attachments_after_days` after the case closed (cases with attachments left);
- anonymised or deleted `after_days` after it closed (cases without an audit skeleton yet).

Cases under legal hold (their own or their organisation's) are counted as `held` and never touched.
`plan()` counts; `run()` counts with `plan()` first, then applies: each batch (`CASEWORK_RETENTION_BATCH`
cases) is one write, so a run killed half-way keeps what it committed and the next run — daily from the
scheduler, or `casework retention` — picks up the rest (a done case no longer matches). Re-running does
nothing new. Each applied action is a `note` event with `data.privacy` on the case, or its skeleton.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from casework.cases.models import Attachment, Case
from casework.cases.services.unit_of_work import unit_of_work
from casework.cases.status import Status
from casework.core.errors import ApplicationError

from . import services
from .models import CaseSkeleton, RetentionAction, RetentionPolicy
from .policies import Scope, governed_q

logger = logging.getLogger(__name__)

ACTOR = "retention"


@dataclass
class PolicyCounts:
    policy: str
    action: str
    purge_attachments: int = 0
    anonymise: int = 0
    delete: int = 0
    held: int = 0

    def as_dict(self) -> dict:
        return {
            "policy": self.policy,
            "action": self.action,
            "purge_attachments": self.purge_attachments,
            "anonymise": self.anonymise,
            "delete": self.delete,
            "held": self.held,
        }


@dataclass
class RetentionReport:
    planned: list[PolicyCounts] = field(default_factory=list)
    applied: list[PolicyCounts] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    files_removed: int = 0

    def as_dict(self) -> dict:
        return {
            "planned": [p.as_dict() for p in self.planned],
            "applied": [p.as_dict() for p in self.applied],
            "failed": self.failed,
            "files_removed": self.files_removed,
        }


def _policies() -> list[RetentionPolicy]:
    return list(RetentionPolicy.objects.filter(active=True).select_related("category", "organisation"))


def _scopes(policies: list[RetentionPolicy]) -> list[Scope]:
    return [Scope(pk=p.pk, category_id=p.category_id, organisation_id=p.organisation_id) for p in policies]


def _closed_before(days: int, now: datetime) -> QuerySet:
    return Case.objects.filter(status=Status.CLOSED, closed_at__lt=now - timedelta(days=days))


def _due(policy: RetentionPolicy, scopes: list[Scope], now: datetime) -> dict[str, QuerySet]:
    """The policy's due cases per action, held ones included (callers split them)."""
    mine = governed_q(_scopes([policy])[0], scopes)
    due: dict[str, QuerySet] = {}
    if policy.purge_attachments_after_days is not None:
        due["purge_attachments"] = (
            _closed_before(policy.purge_attachments_after_days, now)
            .filter(mine)
            .filter(Exists(Attachment.objects.filter(case_id=OuterRef("pk"))))
        )
    if policy.action != RetentionAction.KEEP and policy.after_days is not None:
        key = "anonymise" if policy.action == RetentionAction.ANONYMISE else "delete"
        due[key] = (
            _closed_before(policy.after_days, now)
            .filter(mine)
            .exclude(Exists(CaseSkeleton.objects.filter(case_id_then=OuterRef("pk"))))
        )
    return due


def plan(*, now: datetime | None = None, policies: list[RetentionPolicy] | None = None) -> list[PolicyCounts]:
    """What a run would do now, per policy (a dry run: nothing is written). `policies`: a set to count
    instead of the stored active ones — the policy editor's preview of an unsaved change (inactive ones
    are left out, as the run leaves them out)."""
    now = now or timezone.now()
    policies = _policies() if policies is None else [p for p in policies if p.active]
    scopes = _scopes(policies)
    held = services.held_q()
    out = []
    for policy in policies:
        counts = PolicyCounts(policy=policy.name, action=policy.action)
        held_ids: set[int] = set()
        for key, qs in _due(policy, scopes, now).items():
            setattr(counts, key, qs.exclude(held).count())
            held_ids |= set(qs.filter(held).values_list("pk", flat=True))
        counts.held = len(held_ids)
        out.append(counts)
    return out


def _apply(
    qs: QuerySet,
    door: Callable[..., services.Outcome],
    *,
    batch: int,
    reason: str,
    policy: RetentionPolicy,
    report: RetentionReport,
) -> int:
    done = 0
    # Keyset order: every case is tried once per run, whatever happens to it (the loop ends even if a case
    # keeps matching), and no list of done ids grows.
    last = 0
    held = services.held_q()
    while True:
        ids = list(qs.exclude(held).filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return done
        last = ids[-1]
        files: list[str] = []
        with unit_of_work("retention") as work:
            for case in work.lock_many(ids).values():
                try:
                    outcome = door(case=case, actor=ACTOR, reason=reason, policy_name=policy.name)
                except ApplicationError as exc:
                    # A hold set between the query and the lock, for one: leave that case for next time.
                    report.failed.append(f"{case.reference}: {exc.message}")
                    continue
                files += outcome.files
                done += outcome.counts.get("cases", 0)
        report.files_removed += services.remove_files(files)


def run(*, now: datetime | None = None, dry_run: bool = False, batch: int | None = None) -> RetentionReport:
    """Count, then (unless `dry_run`) apply every policy: attachments first, then anonymise/delete."""
    now = now or timezone.now()
    batch = batch or settings.CASEWORK["RETENTION_BATCH"]
    report = RetentionReport(planned=plan(now=now))
    if dry_run:
        return report
    policies = _policies()
    scopes = _scopes(policies)
    for policy in policies:
        counts = PolicyCounts(policy=policy.name, action=policy.action)
        due = _due(policy, scopes, now)
        if "purge_attachments" in due:
            counts.purge_attachments = _apply(
                due["purge_attachments"],
                services.case_purge_attachments,
                batch=batch,
                reason=f"Attachments purged by retention policy {policy.name!r} "
                f"({policy.purge_attachments_after_days} days after closing)",
                policy=policy,
                report=report,
            )
        for key, door, verb in (
            ("anonymise", services.case_anonymise, "Anonymised"),
            ("delete", services.case_delete, "Deleted"),
        ):
            if key in due:
                setattr(
                    counts,
                    key,
                    _apply(
                        due[key],
                        door,
                        batch=batch,
                        reason=f"{verb} by retention policy {policy.name!r} "
                        f"({policy.after_days} days after closing)",
                        policy=policy,
                        report=report,
                    ),
                )
        counts.held = next((p.held for p in report.planned if p.policy == policy.name), 0)
        report.applied.append(counts)
    if any(p.anonymise or p.delete for p in report.applied):
        services._optimise_search_index()
    logger.info("retention run: %s", report.as_dict())
    return report
