from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "casework.notify"
    label = "notify"

    def ready(self) -> None:
        # Subscribe this app's case hooks and periodic jobs, if it has any.
        from importlib import import_module
        from importlib.util import find_spec

        for module in ("hooks", "jobs"):
            if find_spec(f"{self.name}.{module}") is not None:
                import_module(f"{self.name}.{module}")
