"""After every `migrate`: each notification kind registered at start-up (notify's own and those other
apps add, e.g. insights) has its editable row. The seed migration ran once, before later apps' kinds
existed; without this an admin could not edit those kinds (the engine would still fall back to their
defaults, see kinds.py)."""

from __future__ import annotations

import logging

from django.db.models.signals import post_migrate
from django.dispatch import receiver

log = logging.getLogger(__name__)


@receiver(post_migrate, dispatch_uid="casework.notify.install_kinds")
def install_registered_kinds(sender, app_config=None, **kwargs) -> None:
    if app_config is None or app_config.label != "notify":
        return
    from .kinds import install_kinds
    from .models import NotificationKind, NotificationTemplate

    added = install_kinds(NotificationKind, NotificationTemplate)
    if added:
        log.info("notification kinds: %d added after migrate", added)
