from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "casework.portal"
    label = "portal"
    verbose_name = "Customer portal"
