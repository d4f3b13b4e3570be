from casework.core.apps import CaseworkAppConfig


class SlaConfig(CaseworkAppConfig):
    name = "casework.sla"
    label = "sla"
    default = True
