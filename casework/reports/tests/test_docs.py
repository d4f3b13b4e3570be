"""docs/metrics.md holds every metric's definition, word for word (the tooltip text)."""

from pathlib import Path

from casework.reports.registry import all_metrics

DOC = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"


def _words(text: str) -> str:
    return " ".join(text.split())


def test_every_metric_is_defined_in_the_docs():
    doc = _words(DOC.read_text())
    for metric in all_metrics():
        assert f"`{metric.name}` — {metric.title}" in doc, metric.name
        assert _words(metric.definition) in doc, f"definition of {metric.name} differs from docs/metrics.md"
