from importlib import import_module
from importlib.util import find_spec

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "casework.core"
    label = "core"
    verbose_name = "casework core"

    def ready(self) -> None:
        # Registers the daily doctor job; the apps register its checks in their `doctor` modules.
        import_module("casework.core.doctor")
        # The daily `sqlite-statistics` job (planner statistics; nothing on PostgreSQL).
        import_module("casework.core.statistics")


class CaseworkAppConfig(AppConfig):
    """Base for casework's apps: on start-up, import the app's `panels` (case-page panels), `signals`
    (receivers), `jobs` (periodic work) and `doctor` (repair checks) modules, when it has them.
    Reactions to case changes are not registered here: they are the stages listed in
    `cases/pipeline.py`.

    `default = False` keeps Django from choosing this base when it scans an app's apps.py; each subclass
    sets `default = True`."""

    default = False

    def ready(self) -> None:
        for module in ("panels", "signals", "jobs", "doctor"):
            if find_spec(f"{self.name}.{module}") is not None:
                import_module(f"{self.name}.{module}")
