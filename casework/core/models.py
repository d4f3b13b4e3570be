from django.db import connection, models, transaction


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Counter(models.Model):
    """Monotonic named counters (case numbers). A row-locked increment never hands out a number twice,
    even after rows that used it are deleted, which an autoincrement primary key on SQLite can."""

    name = models.CharField(max_length=50, primary_key=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"

    @classmethod
    def next_value(cls, name: str) -> int:
        return cls.next_values(name, 1).start

    @classmethod
    def next_values(cls, name: str, count: int) -> range:
        """Reserve `count` consecutive values in one statement (a batch of mail opens many cases)."""
        if count < 1:
            raise ValueError("count must be at least 1")
        # No savepoint inside a caller's transaction: nothing here is caught and retried.
        with transaction.atomic(savepoint=False):
            if connection.features.can_return_columns_from_insert:
                # PostgreSQL and SQLite >= 3.35: increment and read in one statement (this runs for every
                # case opened; three ORM round trips were a visible share of opening one).
                table = connection.ops.quote_name(cls._meta.db_table)
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"UPDATE {table} SET value = value + %s WHERE name = %s RETURNING value",
                        [count, name],
                    )
                    row = cursor.fetchone()
                if row is not None:
                    return range(row[0] - count + 1, row[0] + 1)
            cls.objects.get_or_create(name=name)
            updated = cls.objects.filter(name=name).update(value=models.F("value") + count)
            assert updated == 1
            last = cls.objects.values_list("value", flat=True).get(name=name)
            return range(last - count + 1, last + 1)


class SchedulerLease(models.Model):
    """Which worker process runs the periodic scheduler. Held for a short time and renewed every tick, so
    several `casework worker` processes can run and each due job is still enqueued once."""

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=100)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder} until {self.expires_at:%H:%M:%S}"


class JobStatus(models.TextChoices):
    OK = "ok", "OK"
    FAILED = "failed", "Failed"


class ScheduledJob(models.Model):
    """One registered periodic job: when it is due, whether a task for it is queued, who runs it now
    (a lease renewed while it runs), and how its last run went. See casework/core/scheduler.py."""

    name = models.CharField(max_length=100, primary_key=True)
    every = models.DurationField(help_text="Interval from the job registry (set by the scheduler).")
    next_due_at = models.DateTimeField(db_index=True)
    # The django-tasks-db task the scheduler enqueued for the due run, until that run finishes or skips.
    queued_task_id = models.CharField(max_length=64, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    # The run in progress: its worker and lease. Empty holder = nobody runs the job now.
    holder = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_holder = models.CharField(max_length=100, blank=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_duration = models.DurationField(null=True, blank=True)
    last_status = models.CharField(max_length=10, choices=JobStatus.choices, blank=True)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    runs = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkerProcess(models.Model):
    """A `casework worker` process that says it is alive every few seconds. The task reaper requeues a
    RUNNING task only once the worker running it stopped saying so (django-tasks-db has no such notion)."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return self.worker_id


class RateCounter(models.Model):
    """One rate-limit window's count (casework/core/ratelimit.py). Incremented with one atomic upsert, so
    every web process and worker shares the same counts on SQLite and PostgreSQL."""

    key = models.CharField(max_length=250, primary_key=True)
    value = models.BigIntegerField(default=0)
    expires = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key} = {self.value}"


class RelayedTask(models.Model):
    """A database task handed to the relay's runner (casework/core/relay.py), and when. The task row stays
    the truth (READY until a runner claims it); this row only stops the relay from handing it over twice,
    and lets it hand it over again when the runner lost it."""

    task_id = models.UUIDField(primary_key=True)
    relayed_at = models.DateTimeField(db_index=True)
    runner_task_id = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"{self.task_id} relayed at {self.relayed_at:%Y-%m-%d %H:%M:%S}"
