from casework.core.apps import CaseworkAppConfig


class TriageConfig(CaseworkAppConfig):
    name = "casework.triage"
    label = "triage"
    default = True
