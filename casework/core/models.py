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
        with transaction.atomic():
            if connection.features.can_return_columns_from_insert:
                # PostgreSQL and SQLite >= 3.35: increment and read in one statement (this runs for every
                # case opened; three ORM round trips were a visible share of opening one).
                table = connection.ops.quote_name(cls._meta.db_table)
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"UPDATE {table} SET value = value + 1 WHERE name = %s RETURNING value",
                        [name],
                    )
                    row = cursor.fetchone()
                if row is not None:
                    return row[0]
            cls.objects.get_or_create(name=name)
            updated = cls.objects.filter(name=name).update(value=models.F("value") + 1)
            assert updated == 1
            return cls.objects.values_list("value", flat=True).get(name=name)


class SchedulerLease(models.Model):
    """Which worker process runs the periodic scheduler. Held for a short time and renewed, so several
    `casework worker` processes can run and periodic jobs are still enqueued once."""

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=100)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder} until {self.expires_at:%H:%M:%S}"


class PeriodicRun(models.Model):
    name = models.CharField(max_length=100, primary_key=True)
    last_run_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_run_at:%Y-%m-%d %H:%M:%S}"
