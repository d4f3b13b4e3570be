from casework.core.apps import CaseworkAppConfig


class RoutingConfig(CaseworkAppConfig):
    name = "casework.routing"
    label = "routing"
    default = True
