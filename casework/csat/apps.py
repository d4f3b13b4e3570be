from django.apps import AppConfig


class CsatConfig(AppConfig):
    name = "casework.csat"
    label = "csat"
    verbose_name = "Customer satisfaction"
