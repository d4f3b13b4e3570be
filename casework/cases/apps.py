from casework.core.apps import CaseworkAppConfig


class CasesConfig(CaseworkAppConfig):
    name = "casework.cases"
    label = "cases"
    verbose_name = "cases"
    default = True
