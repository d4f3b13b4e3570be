from casework.core.apps import CaseworkAppConfig


class InsightsConfig(CaseworkAppConfig):
    name = "casework.insights"
    label = "insights"
    verbose_name = "insights"
    default = True

    def ready(self) -> None:
        super().ready()
        # The notification kinds this app sends (defaults the engine falls back to; an admin may add rows).
        from . import notifications  # noqa: F401
