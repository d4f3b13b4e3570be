from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "casework.api"
    label = "api"
    verbose_name = "REST API"
