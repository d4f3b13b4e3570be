from casework.core.apps import CaseworkAppConfig


class IntakeConfig(CaseworkAppConfig):
    name = "casework.intake"
    label = "intake"
    default = True
