"""Periodic routing work run by `casework worker`: planned out-of-office ranges start and end on time."""

from __future__ import annotations

from datetime import timedelta

from casework.core.scheduler import register

from .availability import apply_due_absences

register("routing-absences", timedelta(minutes=1), apply_due_absences)
