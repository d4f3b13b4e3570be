from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from casework.core import scheduler
from casework.core.env import env_bool, env_float, env_int, env_list, env_str
from casework.core.models import SchedulerLease


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
    assert env_float("F", 1.0, minimum=0.05, environ={"F": "0.2"}) == 0.2
    for bad in ("0.01", "nan", "inf", "soon"):
        with pytest.raises(ImproperlyConfigured):
            env_float("F", 1.0, minimum=0.05, environ={"F": bad})
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
