from importlib import import_module
from importlib.util import find_spec

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "casework.core"
    label = "core"
    verbose_name = "casework core"


class CaseworkAppConfig(AppConfig):
    """Base for apps that react to case events: on start-up, import the app's `hooks` module (case event
    handlers, panels) and `jobs` module (periodic work), when it has them.

    `default = False` keeps Django from choosing this base when it scans an app's apps.py; each subclass
    sets `default = True`."""

    default = False

    def ready(self) -> None:
        for module in ("hooks", "jobs"):
            if find_spec(f"{self.name}.{module}") is not None:
                import_module(f"{self.name}.{module}")
