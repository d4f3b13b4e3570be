from casework.core.apps import CaseworkAppConfig


class PrivacyConfig(CaseworkAppConfig):
    default = True
    name = "casework.privacy"
    label = "privacy"
    verbose_name = "Retention and privacy"
    default_auto_field = "django.db.models.BigAutoField"
