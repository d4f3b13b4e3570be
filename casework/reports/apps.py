from importlib import import_module

from casework.core.apps import CaseworkAppConfig


class ReportsConfig(CaseworkAppConfig):
    name = "casework.reports"
    label = "reports"
    default = True

    def ready(self) -> None:
        super().ready()
        # The built-in metrics; other apps add theirs from their own `reports` module (registry.py).
        import_module("casework.reports.metrics")
        from .registry import discover

        discover()
