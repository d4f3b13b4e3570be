from casework.core.apps import CaseworkAppConfig


class KnowledgeConfig(CaseworkAppConfig):
    name = "casework.knowledge"
    label = "knowledge"
    verbose_name = "knowledge base"
    default = True
