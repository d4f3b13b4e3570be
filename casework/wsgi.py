import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casework.settings")
application = get_wsgi_application()


def _load_triage_model() -> None:
    """Load the learned triage model (and scikit-learn with it) while the web process boots, before it
    takes a request: 1–2 s otherwise paid by the first case opened in each process. Files only, no
    database; without a trained model nothing is imported (casework/triage/model_store.py)."""
    from casework.triage import model_store

    model_store.current_model()


_load_triage_model()
