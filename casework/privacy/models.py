"""Retention policies, legal holds, and what is left of a case once its personal data is gone.

- `RetentionPolicy`: per category and/or organisation (the most specific active one wins, see
  `policies.py`), what happens to a *closed* case N days after it closed: kept, anonymised or deleted, and
  when its attachments are purged.
- `LegalHold`: a case or a whole organisation that nothing may anonymise, delete, purge or erase while the
  hold is active (`released_at` empty). Set and released only through `services.py`, recorded on the
  timeline of every case it covers.
- `CaseSkeleton`: the audit skeleton of an anonymised, erased or deleted case — reference, dates,
  category, priority, SLA outcome and the kinds of its events; no personal data, no message bodies. Its
  existence also marks the case as done for the retention job (runs are idempotent and resumable).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class RetentionAction(models.TextChoices):
    KEEP = "keep", "Keep"
    ANONYMISE = "anonymise", "Anonymise"
    DELETE = "delete", "Delete (keep the audit skeleton)"


class RetentionPolicy(models.Model):
    name = models.CharField(max_length=100, unique=True)
    category = models.ForeignKey(
        "cases.Category",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: any category.",
    )
    organisation = models.ForeignKey(
        "people.Organisation",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: any organisation (and customers without one).",
    )
    action = models.CharField(max_length=10, choices=RetentionAction.choices, default=RetentionAction.KEEP)
    after_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Days after the case closed before it is anonymised or deleted (empty with 'keep').",
    )
    purge_attachments_after_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Days after the case closed before its attachments go. Empty: never."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "retention policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=RetentionAction.values), name="retention_policy_action_valid"
            ),
            models.CheckConstraint(
                condition=Q(action="keep") | Q(after_days__isnull=False),
                name="retention_policy_days_with_action",
            ),
            # One policy per scope (the default one, with neither, is checked in clean()).
            models.UniqueConstraint(
                fields=["category", "organisation"],
                condition=Q(category__isnull=False, organisation__isnull=False),
                name="retention_policy_one_per_pair",
            ),
            models.UniqueConstraint(
                fields=["category"],
                condition=Q(category__isnull=False, organisation__isnull=True),
                name="retention_policy_one_per_category",
            ),
            models.UniqueConstraint(
                fields=["organisation"],
                condition=Q(category__isnull=True, organisation__isnull=False),
                name="retention_policy_one_per_organisation",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def scope(self) -> str:
        parts = [f"category {self.category}" if self.category_id else "", ""]
        parts[1] = f"organisation {self.organisation}" if self.organisation_id else ""
        return " and ".join(p for p in parts if p) or "default"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.action != RetentionAction.KEEP and self.after_days is None:
            raise ValidationError(
                {"after_days": "Say after how many days the case is anonymised or deleted."}
            )
        if self.category_id is None and self.organisation_id is None:
            others = RetentionPolicy.objects.filter(category__isnull=True, organisation__isnull=True)
            if others.exclude(pk=self.pk).exists():
                raise ValidationError(
                    "There is already a default policy (neither category nor organisation)."
                )


class LegalHold(models.Model):
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, null=True, blank=True, related_name="legal_holds"
    )
    organisation = models.ForeignKey(
        "people.Organisation", on_delete=models.CASCADE, null=True, blank=True, related_name="legal_holds"
    )
    reason = models.CharField(max_length=500)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    set_by_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    release_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(case__isnull=False) & Q(organisation__isnull=True))
                | (Q(case__isnull=True) & Q(organisation__isnull=False)),
                name="legal_hold_case_xor_organisation",
            ),
            # At most one active hold per case and per organisation.
            models.UniqueConstraint(
                fields=["case"],
                condition=Q(released_at__isnull=True, case__isnull=False),
                name="legal_hold_one_active_per_case",
            ),
            models.UniqueConstraint(
                fields=["organisation"],
                condition=Q(released_at__isnull=True, organisation__isnull=False),
                name="legal_hold_one_active_per_organisation",
            ),
        ]

    def __str__(self) -> str:
        what = f"case {self.case_id}" if self.case_id else f"organisation {self.organisation_id}"
        return f"hold on {what}" + (" (released)" if self.released_at else "")


class Disposal(models.TextChoices):
    ANONYMISED = "anonymised", "Anonymised"
    ERASED = "erased", "Anonymised on the customer's request"
    DELETED = "deleted", "Deleted"


class CaseSkeleton(models.Model):
    """What remains for the audit of a case whose personal data is gone: nothing here names a person."""

    reference = models.CharField(max_length=20, unique=True)
    case_id_then = models.BigIntegerField(
        unique=True, help_text="The case's id (the row is gone when it was deleted)."
    )
    disposal = models.CharField(max_length=12, choices=Disposal.choices)
    policy_name = models.CharField(max_length=100, blank=True)
    channel = models.CharField(max_length=20, blank=True)
    category = models.CharField(max_length=100, blank=True)
    priority = models.CharField(max_length=10, blank=True)
    status = models.CharField(max_length=20, blank=True)
    organisation = models.ForeignKey(
        "people.Organisation", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    team = models.CharField(max_length=100, blank=True)
    tier = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    reopen_count = models.PositiveIntegerField(default=0)
    # {"first_response": "met", "resolution": "breached"}
    sla_outcome = models.JSONField(default=dict, blank=True)
    # [["opened", "2026-01-02T…"], ["status_changed", …]] — kinds and times only.
    event_kinds = models.JSONField(default=list, blank=True)
    messages = models.PositiveIntegerField(default=0)
    attachments = models.PositiveIntegerField(default=0)
    disposed_at = models.DateTimeField()
    disposed_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-disposed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.reference} ({self.disposal})"


class PrivacyChange(models.Model):
    """Who changed a retention policy or a legal hold, when, from → to and why, and for a policy the dry
    run shown before saving (what the next retention run would do under the new set of policies). Written
    only by `policy_changes.py` and the hold doors in `services.py`; read-only everywhere else."""

    class Kind(models.TextChoices):
        POLICY_CREATED = "policy_created", "policy created"
        POLICY_UPDATED = "policy_updated", "policy edited"
        POLICY_ENABLED = "policy_enabled", "policy enabled"
        POLICY_DISABLED = "policy_disabled", "policy disabled"
        HOLD_SET = "hold_set", "legal hold set"
        HOLD_RELEASED = "hold_released", "legal hold released"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    policy = models.ForeignKey(
        RetentionPolicy, on_delete=models.SET_NULL, null=True, blank=True, related_name="changes"
    )
    hold = models.ForeignKey(
        LegalHold, on_delete=models.SET_NULL, null=True, blank=True, related_name="changes"
    )
    label = models.CharField(max_length=200, help_text="The policy's name or what the hold is on.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=500)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    dry_run = models.JSONField(
        null=True, blank=True, help_text="Policies: the retention run's counts under the new policies."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        "policy_created",
                        "policy_updated",
                        "policy_enabled",
                        "policy_disabled",
                        "hold_set",
                        "hold_released",
                    ]
                ),
                name="privacy_change_kind_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.get_kind_display()}"

    def diff(self) -> list[tuple[str, object, object]]:
        """(field, before, after) for what changed; a created policy lists every field it was given."""
        before, after = self.before or {}, self.after or {}
        return [
            (key.replace("_", " "), before.get(key), after.get(key))
            for key in after
            if before.get(key) != after.get(key)
        ]
