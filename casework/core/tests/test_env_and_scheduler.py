from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from casework.core import scheduler
from casework.core.env import env_bool, env_int, env_list, env_str
from casework.core.models import PeriodicRun, SchedulerLease


def test_env_helpers_parse_and_fail_loudly(tmp_path):
    assert env_bool("X", environ={"X": "yes"}) is True
    assert env_bool("X", True, environ={}) is True
    with pytest.raises(ImproperlyConfigured):
        env_bool("X", environ={"X": "maybe"})
    assert env_int("N", 5, environ={"N": "7"}) == 7
    with pytest.raises(ImproperlyConfigured):
        env_int("N", 5, environ={"N": "seven"})
    with pytest.raises(ImproperlyConfigured):
        env_int("N", 5, minimum=10, environ={"N": "7"})
    assert env_list("L", environ={"L": "a, b,,c"}) == ["a", "b", "c"]
    secret = tmp_path / "key"
    secret.write_text("s3cret\n")
    assert env_str("K", environ={"K_FILE": str(secret)}) == "s3cret"
    with pytest.raises(ImproperlyConfigured):
        env_str("K", environ={"K_FILE": str(tmp_path / "missing")})


@pytest.mark.django_db
def test_scheduler_lease_is_exclusive_until_it_expires():
    assert scheduler.acquire_lease("a", seconds=30)
    assert not scheduler.acquire_lease("b", seconds=30)
    assert scheduler.acquire_lease("a", seconds=30)  # renewal by the holder
    SchedulerLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert scheduler.acquire_lease("b", seconds=30)


@pytest.mark.django_db
def test_due_jobs_run_once_per_interval(monkeypatch):
    calls = []
    monkeypatch.setattr(scheduler, "_jobs", {})
    scheduler.register("count", timedelta(minutes=5), lambda: calls.append(1))
    now = timezone.now()
    assert scheduler.run_due_jobs(now) == ["count"]
    assert scheduler.run_due_jobs(now + timedelta(minutes=1)) == []
    assert scheduler.run_due_jobs(now + timedelta(minutes=6)) == ["count"]
    assert len(calls) == 2 and PeriodicRun.objects.get(name="count")


@pytest.mark.django_db
def test_reaper_requeues_then_fails_tasks_whose_worker_died():
    from django_tasks_db.models import DBTaskResult

    old = timezone.now() - timedelta(hours=1)
    common = {"args_kwargs": {"args": [], "kwargs": {}}, "task_path": "x.y", "backend_name": "default",
              "run_after": old, "status": "RUNNING", "started_at": old}  # fmt: skip
    once = DBTaskResult.objects.create(worker_ids=["w1"], **common)
    thrice = DBTaskResult.objects.create(worker_ids=["w1", "w2", "w3"], **common)
    assert scheduler.reap_stuck_tasks() == {"requeued": 1, "failed": 1}
    once.refresh_from_db()
    thrice.refresh_from_db()
    assert once.status == "READY" and thrice.status == "FAILED"
