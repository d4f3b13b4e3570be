"""An organisation's tier is edited in the admin, not through a case door: its open cases' clocks are
recalculated in that same transaction (the admin saves inside one), so a tier change can never be
committed without the due times that follow from it."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from casework.core import clock
from casework.people.models import Organisation


@receiver(post_save, sender=Organisation, dispatch_uid="sla_organisation_tier")
def organisation_saved(sender, instance: Organisation, created: bool, **kwargs) -> None:
    # Clocks matched on another tier are found by their stored tier, so an edit that does not change
    # the tier touches nothing (one indexed query).
    if created or kwargs.get("raw"):
        return
    from .services import clocks_recalculate_for_organisation

    clocks_recalculate_for_organisation(
        organisation_id=instance.pk, at=clock.now(), actor_label="organisation settings"
    )
