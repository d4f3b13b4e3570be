"""Operations in the admin: periodic jobs (schedule, last run, errors) and the worker processes."""

from django.contrib import admin, messages
from django.utils import timezone

from .models import ScheduledJob, WorkerProcess
from .scheduler import jobs, jobs_run_now, lease_is_live
from .workers import WORKER_GONE_AFTER


@admin.register(ScheduledJob)
class ScheduledJobAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "every",
        "state",
        "last_started_at",
        "last_duration",
        "last_status",
        "consecutive_failures",
        "next_due_at",
    ]
    list_filter = ["last_status"]
    search_fields = ["name", "last_error"]
    readonly_fields = [f.name for f in ScheduledJob._meta.fields]
    actions = ["run_now"]

    @admin.display(description="now")
    def state(self, obj: ScheduledJob) -> str:
        now = timezone.now()
        if obj.name not in {job.name for job in jobs()}:
            # Removed from the code (or registered through CASEWORK_JOB_MODULES, which only workers load).
            return "not registered here (delete the row if the job is gone)"
        if lease_is_live(obj.holder, obj.lease_expires_at, now):
            return f"running on {obj.holder}"
        if obj.holder:
            return f"lease of {obj.holder} expired (worker lost), will run again"
        if obj.queued_task_id:
            return "queued"
        return "due" if obj.next_due_at <= now else "waiting"

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Run now (make due at the next scheduler tick)")
    def run_now(self, request, queryset) -> None:
        count = jobs_run_now(names=list(queryset.values_list("name", flat=True)))
        self.message_user(request, f"{count} job(s) due now.", messages.SUCCESS)


@admin.register(WorkerProcess)
class WorkerProcessAdmin(admin.ModelAdmin):
    list_display = ["worker_id", "hostname", "pid", "started_at", "seen_at", "alive"]
    readonly_fields = [f.name for f in WorkerProcess._meta.fields]

    @admin.display(boolean=True)
    def alive(self, obj: WorkerProcess) -> bool:
        return obj.stopped_at is None and obj.seen_at >= timezone.now() - WORKER_GONE_AFTER

    def has_add_permission(self, request) -> bool:
        return False
