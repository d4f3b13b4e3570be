"""Insights: duplicate suggestions, clusters of similar cases, problems, spikes, engineering links.

State fields are called `state` (not `status`): `status` is the case's, guarded by the one-door check."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SuggestionState(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    MERGED = "merged", "Merged"
    DISMISSED = "dismissed", "Not a duplicate"


class DuplicateSuggestion(models.Model):
    """ "`case` may be a duplicate of `candidate`" — written by the duplicate task after a case opens. A
    dismissed pair (either way round) is never proposed again."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="duplicate_suggestions")
    candidate = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()
    # The engine's signals: word/char/subject similarity and the shared words (similarity.Match.as_data).
    signals = models.JSONField(default=dict, blank=True)
    why = models.CharField(max_length=500, blank=True)
    state = models.CharField(max_length=10, choices=SuggestionState.choices, default=SuggestionState.PROPOSED)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-score", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "candidate"], name="insights_suggestion_pair_unique"),
            models.CheckConstraint(
                condition=models.Q(state__in=SuggestionState.values), name="insights_suggestion_state_valid"
            ),
        ]
        indexes = [models.Index(fields=["case", "state"], name="insights_suggestion_case")]

    def __str__(self) -> str:
        return f"{self.case_id} ~ {self.candidate_id} ({self.score:.2f}, {self.state})"


class Cluster(models.Model):
    """A group of similar recent cases, grown incrementally by the clustering job: a new case joins the
    cluster of the most similar clustered case, else founds one. Clusters never split or merge."""

    label = models.CharField(max_length=200, blank=True)
    size = models.PositiveIntegerField(default=0)
    first_case_at = models.DateTimeField()
    last_case_at = models.DateTimeField()
    # Set once, in the write that queued the "possible incident" alert: the alert goes out once.
    alerted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_case_at", "-id"]
        indexes = [models.Index(fields=["-last_case_at"], name="insights_cluster_recent")]

    def __str__(self) -> str:
        return f"cluster {self.pk}: {self.label} ({self.size})"


class ClusterMember(models.Model):
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="members")
    case = models.OneToOneField("cases.Case", on_delete=models.CASCADE, related_name="cluster_membership")
    # Which clustered case it was most like, and how much (None for the case that founded the cluster).
    matched = models.ForeignKey(
        "cases.Case", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    score = models.FloatField(default=0.0)
    case_created_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["case_created_at", "id"]

    def __str__(self) -> str:
        return f"case {self.case_id} in cluster {self.cluster_id}"


class ProblemState(models.TextChoices):
    OPEN = "open", "Open"
    INVESTIGATING = "investigating", "Investigating"
    FIX_IN_PROGRESS = "fix_in_progress", "Fix in progress"
    RESOLVED = "resolved", "Resolved"


class Problem(models.Model):
    """The cause behind several cases, owned by someone until it is gone."""

    title = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_problems",
    )
    root_cause = models.TextField(blank=True)
    action = models.TextField(blank=True)
    state = models.CharField(max_length=20, choices=ProblemState.choices, default=ProblemState.OPEN)
    cluster = models.OneToOneField(
        Cluster, on_delete=models.SET_NULL, null=True, blank=True, related_name="problem"
    )
    resolution_note = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=ProblemState.values), name="insights_problem_state_valid"
            )
        ]

    def __str__(self) -> str:
        return f"PRB-{self.pk}: {self.title}"

    @property
    def reference(self) -> str:
        return f"PRB-{self.pk}"


class LinkState(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    LINKED = "linked", "Linked"
    REJECTED = "rejected", "Rejected"


class ProblemCase(models.Model):
    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="links")
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="problem_links")
    state = models.CharField(max_length=10, choices=LinkState.choices, default=LinkState.LINKED)
    # Why it is here: "cluster" (the problem's cluster), "proposed" (a new matching case), "manual".
    source = models.CharField(max_length=20, default="manual")
    score = models.FloatField(null=True, blank=True)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Set in the write that told the case (and its customer) the problem's resolution: exactly once.
    resolution_sent_at = models.DateTimeField(null=True, blank=True)
    # False when the case was no longer open at the resolution (nothing was sent for it).
    resolution_told = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["problem", "case"], name="insights_problem_case_unique"),
            models.CheckConstraint(
                condition=models.Q(state__in=LinkState.values), name="insights_problem_case_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"case {self.case_id} ~ problem {self.problem_id} ({self.state})"


class Spike(models.Model):
    """A day on which a category's (or organisation's) volume stood out from its trailing baseline."""

    dimension = models.CharField(max_length=20)  # "category" | "organisation"
    key = models.CharField(max_length=200)  # the category slug / organisation id
    label = models.CharField(max_length=200)
    day = models.DateField()
    count = models.PositiveIntegerField()
    baseline = models.FloatField()  # the median of the trailing window
    mad = models.FloatField()
    score = models.FloatField()  # robust z-score
    cases = models.JSONField(default=list)  # references
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "-score"]
        constraints = [
            models.UniqueConstraint(fields=["dimension", "key", "day"], name="insights_spike_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.dimension} {self.label} on {self.day}: {self.count}"


class LinkSystem(models.TextChoices):
    JIRA = "jira", "Jira"
    GITHUB = "github", "GitHub"


class EngineeringLink(models.Model):
    """A case or a problem linked to a Jira or GitHub issue (created by us through the outbox, or an
    existing one). Inbound signed webhooks move `issue_state`."""

    system = models.CharField(max_length=10, choices=LinkSystem.choices)
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, null=True, blank=True, related_name="engineering_links"
    )
    problem = models.ForeignKey(
        Problem, on_delete=models.CASCADE, null=True, blank=True, related_name="engineering_links"
    )
    key = models.CharField(max_length=100, blank=True)  # "OPS-12", "owner/repo#34"
    url = models.URLField(max_length=500, blank=True)
    # "pending" while the outbox row creates it; "open", "closed", "released", "failed"
    issue_state = models.CharField(max_length=20, default="open")
    last_error = models.TextField(blank=True)
    closed_notified_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(case__isnull=False) | models.Q(problem__isnull=False),
                name="insights_link_has_target",
            ),
            models.CheckConstraint(
                condition=models.Q(system__in=LinkSystem.values), name="insights_link_system_valid"
            ),
        ]
        indexes = [models.Index(fields=["system", "key"], name="insights_link_key")]

    def __str__(self) -> str:
        return f"{self.system} {self.key or '(pending)'} ({self.issue_state})"


class IssueOutbox(models.Model):
    """ "Create this issue in Jira/GitHub": written in the write that asked for it, POSTed by the worker
    (claimed with a lease, retried with backoff), its answer's key/URL stored on the link."""

    link = models.OneToOneField(EngineeringLink, on_delete=models.CASCADE, related_name="outbox")
    endpoint = models.URLField(max_length=500)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=10, default="pending")  # pending | sent | failed
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"issue for link {self.link_id} ({self.state})"


class VectorSpace(models.Model):
    """A snapshot of document frequencies over hashed n-gram columns (`vectors.Snapshot`): the IDF that
    every stored case vector of this version was computed with. The newest row is current; vectors of an
    older one are re-vectorised in batches by the `insights-vectorise` job (`vectorising.py`)."""

    # Random, so a process's cached copy is never mistaken for another snapshot that got the same id
    # (ids are reused after a rolled-back transaction).
    token = models.CharField(max_length=32, unique=True)
    n_docs = models.PositiveIntegerField()
    # zlib-compressed (columns, counts) of the non-zero document frequencies (vectors.Snapshot.to_bytes).
    df = models.BinaryField()
    created_at = models.DateTimeField()
    # The `insights-vectorise` job's place in the backfill of this snapshot (vectorising.py): every case
    # with an id in [backfill_below, head_id] has been looked at; cases above head_id are new since.
    # Without them each run walked every case already vectorised before finding the next ones (O(cases)
    # per query: 0.3 s after 32,000 of 1,000,000, growing with the backfill).
    backfill_below = models.BigIntegerField(null=True, blank=True)
    head_id = models.BigIntegerField(null=True, blank=True)
    # A refit of VECTOR_FIT_SAMPLE cases took 4.4 s (10,000 cases) in one job run: it is now made in
    # steps (`vectorising.fit_step`), newest cases first. Until `ready`, the row is a fit in progress
    # (its df and n_docs so far, the next case below `fit_below`) and the previous snapshot stays current.
    ready = models.BooleanField(default=True)
    fit_below = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"vector space v{self.pk} ({self.n_docs} cases)"


class CaseVector(models.Model):
    """A case's text as stored vectors (`vectors.py`), computed once by the duplicate task or the
    vectorise job: `full` for exact scores, `short` (the heaviest columns only) for the in-memory
    inverted index that finds candidates. (column uint32, value float16) pairs, little-endian."""

    case = models.OneToOneField("cases.Case", on_delete=models.CASCADE, related_name="insights_vector")
    space = models.ForeignKey(VectorSpace, on_delete=models.CASCADE, related_name="+")
    full = models.BinaryField()
    short = models.BinaryField()
    created_at = models.DateTimeField()

    # Reads go by case (the unique index) and check the space in Python: with both in the WHERE clause
    # SQLite picked the space index and scanned 100,000 rows (measured, bench/bench_insights.py). The
    # index's loads go by space and id (the foreign key's index, which ends in the rowid).

    def __str__(self) -> str:
        return f"vector of case {self.case_id} (v{self.space_id})"


# --- findings of the daily job (findings.py) ------------------------------------------------------------


class RepeatContact(models.Model):
    """ "The same customer wrote about the same topic in `previous` shortly before": the one definition of a
    repeat contact (reports' `repeat_contact` metric counts these rows). Written by the duplicate task
    through `findings_services.repeat_contact_record`, with a note on the case's timeline."""

    case = models.OneToOneField("cases.Case", on_delete=models.CASCADE, related_name="repeat_contact")
    previous = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    similarity = models.FloatField()  # the stored-vector score (as for duplicates), 0..1
    # "similarity" (score ≥ REPEAT_CONTACT_THRESHOLD) or "follow_up" (the case continues `previous`).
    via = models.CharField(max_length=20, default="similarity")
    threshold = models.FloatField()  # the threshold in force when it was flagged
    gap_seconds = models.FloatField()  # from the previous contact to this case's opening
    shared = models.JSONField(default=list, blank=True)  # the weightiest words both share
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"case {self.case_id} repeats {self.previous_id} ({self.similarity:.2f})"

    @property
    def gap_text(self) -> str:
        from .findings_services import ago

        return ago(self.gap_seconds)


class ResolutionOutlier(models.Model):
    """A case resolved slower than the p90 of its priority over the trailing window (wall time from
    opening to the latest resolution, as in reports' `resolution` metric). One row per case."""

    case = models.OneToOneField("cases.Case", on_delete=models.CASCADE, related_name="resolution_outlier")
    priority = models.CharField(max_length=10)
    seconds = models.FloatField()
    p90_seconds = models.FloatField()
    median_seconds = models.FloatField()
    sample = models.PositiveIntegerField()  # resolved cases of that priority in the window
    window_days = models.PositiveIntegerField()
    resolved_at = models.DateTimeField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-resolved_at", "-id"]

    def __str__(self) -> str:
        return f"case {self.case_id}: {self.seconds:.0f}s > p90 {self.p90_seconds:.0f}s"

    def why(self) -> str:
        from casework.reports.format import duration

        return (
            f"Resolved in {duration(self.seconds)}: above the p90 of {duration(self.p90_seconds)} for "
            f"{self.priority} cases (median {duration(self.median_seconds)}, {self.sample} resolved in "
            f"the last {self.window_days} days)."
        )


class GapState(models.TextChoices):
    OPEN = "open", "Open"
    DISMISSED = "dismissed", "Dismissed"
    DRAFTED = "drafted", "Draft started"


class KnowledgeGap(models.Model):
    """ "Write an article about X": a cluster or category with many recent cases and no published article
    that matches its top terms (knowledge's own suggestion search and threshold). Dismissed or drafted
    gaps are remembered: the job never raises the same source again."""

    source = models.CharField(max_length=10)  # "cluster" | "category"
    key = models.CharField(max_length=100)  # cluster id / category slug
    label = models.CharField(max_length=200)
    terms = models.JSONField(default=list)
    cases = models.JSONField(default=list)  # references, newest first (at most 50)
    case_count = models.PositiveIntegerField()
    window_days = models.PositiveIntegerField()
    # The best published article for the terms and its score (None: no article matched at all).
    best_article = models.ForeignKey(
        "knowledge.Article", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    best_score = models.FloatField(null=True, blank=True)
    min_score = models.FloatField()
    state = models.CharField(max_length=10, choices=GapState.choices, default=GapState.OPEN)
    article = models.ForeignKey(
        "knowledge.Article", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-case_count", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "key"], name="insights_gap_source_unique"),
            models.CheckConstraint(
                condition=models.Q(state__in=GapState.values), name="insights_gap_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"gap {self.source} {self.label} ({self.case_count}, {self.state})"
