from casework.core.apps import CaseworkAppConfig


class NotifyConfig(CaseworkAppConfig):
    name = "casework.notify"
    label = "notify"
    default = True
