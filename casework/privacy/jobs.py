from datetime import timedelta

from casework.core.scheduler import register


def _retention() -> dict:
    from .retention import run

    return run().as_dict()


# Daily, in batches; a run cut short is finished by the next one (see retention.py).
register("retention-policies", timedelta(days=1), _retention)
