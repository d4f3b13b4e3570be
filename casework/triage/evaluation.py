"""Scoring triage on a labelled file: rules alone, model alone, and both together (what the app does).

For each of category and priority: accuracy, the confusion matrix (rows = truth, columns = predicted),
critical recall (priority), and calibration (expected calibration error, and accuracy by confidence band)
for the model. "Combined" counts the decided value, or the model's top guess where the case was left to a
person (that is what the triager sees first); `auto_rate` and `auto_accuracy` say how many were decided
without a person and how often those were right. Sentiment: angry recall and calm messages flagged.

Pure: no Django. `casework triage evaluate FILE` and `bench/bench_triage_quality.py` print `report()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import sentiment
from .classifier import ANGRY_HEAD, FIELDS, TriageModel, expected_calibration_error
from .corpus import LabelledMessage
from .decision import decide
from .default_rules import DEFAULT_FACTS
from .engine import RuleSpec
from .examples import PRIORITIES

BANDS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.01))


def facts_for(message: LabelledMessage) -> dict[str, Any]:
    e = message.example
    return {
        **DEFAULT_FACTS,
        "subject": e.subject,
        "body": e.body,
        "text": f"{e.subject}\n{e.body}",
        "channel": "email",
        "customer_tier": e.customer_tier,
        "vip": e.vip,
        "organisation": "",
        "status": "new",
        "age_minutes": 0,
        "sentiment": 0.0,
        "frustrated": False,
        "tags": [],
    }


def confusion(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(truth, predicted, strict=True):
        if t in index and p in index:
            matrix[index[t]][index[p]] += 1
    return matrix


@dataclass
class FieldScore:
    accuracy: float
    labels: list[str]
    matrix: list[list[int]]
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "accuracy": round(self.accuracy, 4),
            "labels": self.labels,
            "matrix": self.matrix,
            "n": self.n,
        }


def _score(truth: list[str], predicted: list[str], labels: list[str]) -> FieldScore:
    extra = sorted({p for p in predicted if p not in labels} | {t for t in truth if t not in labels})
    labels = [*labels, *extra]
    accuracy = sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth) if truth else 0.0
    return FieldScore(accuracy, labels, confusion(truth, predicted, labels), len(truth))


def _critical_recall(truth: list[str], predicted: list[str]) -> dict[str, Any]:
    pairs = [(t, p) for t, p in zip(truth, predicted, strict=True) if t == "critical"]
    found = sum(p == "critical" for _, p in pairs)
    return {"found": found, "of": len(pairs), "recall": round(found / len(pairs), 4) if pairs else None}


def _calibration(rows: list[tuple[str, str, float]]) -> dict[str, Any]:
    bands = []
    for lo, hi in BANDS:
        inside = [(t == p) for t, p, c in rows if lo <= c < hi]
        if inside:
            bands.append(
                {"confidence": f"{lo:.1f}–{min(hi, 1.0):.1f}", "n": len(inside),
                 "accuracy": round(sum(inside) / len(inside), 3)}
            )  # fmt: skip
    return {"ece": round(expected_calibration_error(rows), 4), "bands": bands}


def evaluate(
    messages: Sequence[LabelledMessage],
    *,
    rules: Sequence[RuleSpec],
    model: TriageModel | None,
    threshold: float,
    categories: Sequence[str],
    frustrated_below: float = sentiment.FRUSTRATED_THRESHOLD,
    fallback: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    truth = {name: [getattr(m.example, name) for m in messages] for name in FIELDS}
    labels = {"category": list(categories), "priority": list(PRIORITIES)}
    rules_pred: dict[str, list[str]] = {name: [] for name in FIELDS}
    model_pred: dict[str, list[str]] = {name: [] for name in FIELDS}
    model_rows: dict[str, list[tuple[str, str, float]]] = {name: [] for name in FIELDS}
    combined_pred: dict[str, list[str]] = {name: [] for name in FIELDS}
    auto: dict[str, list[bool]] = {name: [] for name in FIELDS}
    needs_person = 0
    # The safety net: where each truly critical message went (decided critical, left to a person, decided
    # lower), and how many messages the "possible critical" review sent to a person in all.
    critical_fate = {"decided_critical": 0, "to_a_person": 0, "decided_lower": 0}
    possible_critical = {"flagged": 0, "of_them_critical": 0}
    for message in messages:
        facts = facts_for(message)
        alone = decide(rules, facts, None, threshold=threshold)
        prediction = None
        if model is not None:
            e = message.example
            prediction = model.predict(e.subject, e.body, customer_tier=e.customer_tier, vip=e.vip)
        both = decide(rules, facts, prediction, threshold=threshold, fallback=fallback)
        needs_person += bool(both.unsure)
        is_critical = message.example.priority == "critical"
        if prediction is not None and prediction.possible_critical and "priority" in both.unsure:
            possible_critical["flagged"] += 1
            possible_critical["of_them_critical"] += is_critical
        if is_critical:
            if "priority" in both.unsure:
                critical_fate["to_a_person"] += 1
            elif both.values.get("priority") == "critical":
                critical_fate["decided_critical"] += 1
            else:
                critical_fate["decided_lower"] += 1
        for name in FIELDS:
            rules_pred[name].append(alone.values[name] or "")
            head = prediction.head(name) if prediction else None
            if head is not None:
                model_pred[name].append(head.label)
                model_rows[name].append((getattr(message.example, name), head.label, head.confidence))
            combined_pred[name].append(both.guess(name) or "")
            auto[name].append(name not in both.unsure)
    result: dict[str, Any] = {"n": len(messages), "threshold": threshold}
    for system, predicted in (("rules", rules_pred), ("model", model_pred), ("combined", combined_pred)):
        if system != "rules" and model is None:
            continue
        part: dict[str, Any] = {}
        for name in FIELDS:
            part[name] = _score(truth[name], predicted[name], labels[name]).as_dict()
        part["critical_recall"] = _critical_recall(truth["priority"], predicted["priority"])
        if system == "model":
            part["calibration"] = {name: _calibration(model_rows[name]) for name in FIELDS}
        if system == "combined":
            for name in FIELDS:
                decided = [i for i, ok in enumerate(auto[name]) if ok]
                part[name]["auto_rate"] = round(len(decided) / len(messages), 4) if messages else None
                part[name]["auto_accuracy"] = (
                    round(sum(truth[name][i] == predicted[name][i] for i in decided) / len(decided), 4)
                    if decided
                    else None
                )
            part["needs_human_triage"] = needs_person
            part["critical_safety_net"] = {**critical_fate, "possible_critical": possible_critical}
        result[system] = part
    result["sentiment"] = sentiment_scores(messages, frustrated_below, model)
    return result


def sentiment_scores(
    messages: Sequence[LabelledMessage], frustrated_below: float, model: TriageModel | None = None
) -> dict[str, Any]:
    labelled = [m for m in messages if m.angry is not None]
    out: dict[str, Any] = {"threshold": frustrated_below}

    def with_model(m: LabelledMessage) -> bool:
        e = m.example
        p = model.predict(e.subject, e.body).angry if model is not None else None
        return sentiment.assess(_text(m), angry_probability=p).frustrated_at(frustrated_below)

    judges = [
        ("vader_alone", lambda m: sentiment.vader_score(_text(m)) <= frustrated_below),
        ("with_support_layer", lambda m: sentiment.assess(_text(m)).frustrated_at(frustrated_below)),
    ]
    if model is not None and ANGRY_HEAD in model.heads:
        judges.append(("support_layer_and_model", with_model))
    for name, judge in judges:
        flagged = [(m.angry, judge(m)) for m in labelled]
        angry = [f for a, f in flagged if a]
        calm = [f for a, f in flagged if not a]
        out[name] = {
            "angry_recall": round(sum(angry) / len(angry), 4) if angry else None,
            "angry_found": sum(angry),
            "angry": len(angry),
            "calm_flagged_rate": round(sum(calm) / len(calm), 4) if calm else None,
            "calm_flagged": sum(calm),
            "calm": len(calm),
        }
    return out


def _text(message: LabelledMessage) -> str:
    return f"{message.example.subject}\n{message.example.body}"


# --------------------------------------------------------------------------------------------------
# printing
# --------------------------------------------------------------------------------------------------


def _matrix_lines(score: dict[str, Any]) -> list[str]:
    labels = score["labels"]
    short = [label[:8] for label in labels]
    width = max(len(s) for s in short) + 1
    lines = ["      truth \\ predicted " + "".join(s.rjust(width) for s in short)]
    for label, row in zip(labels, score["matrix"], strict=True):
        lines.append(f"      {label[:18]:>18}    " + "".join(str(v).rjust(width) for v in row))
    return lines


def report(result: dict[str, Any], *, matrices: bool = True) -> str:
    lines = [f"{result['n']} labelled messages; confidence threshold {result['threshold']:.2f}"]
    for system in ("rules", "model", "combined"):
        part = result.get(system)
        if part is None:
            continue
        crit = part["critical_recall"]
        title = {
            "rules": "rules alone",
            "model": "model alone",
            "combined": "rules + model (as the app runs)",
        }
        lines.append("")
        lines.append(
            f"{title[system]}: category {part['category']['accuracy']:.1%}, priority "
            f"{part['priority']['accuracy']:.1%}, critical recall {crit['found']}/{crit['of']}"
        )
        if system == "combined":
            for name in FIELDS:
                p = part[name]
                auto_acc = p["auto_accuracy"]
                lines.append(
                    f"  {name}: decided without a person {p['auto_rate']:.1%}, right "
                    f"{'-' if auto_acc is None else f'{auto_acc:.1%}'} of those"
                )
            lines.append(f"  needs human triage: {part['needs_human_triage']} of {result['n']}")
            net = part.get("critical_safety_net")
            if net:
                pc = net["possible_critical"]
                lines.append(
                    f"  critical messages: {net['decided_critical']} decided critical, "
                    f"{net['to_a_person']} sent to a person (needs human triage), "
                    f"{net['decided_lower']} decided lower (missed); the "
                    f"possible-critical review sent {pc['flagged']} messages to a person, "
                    f"{pc['of_them_critical']} of them critical"
                )
        if system == "model":
            for name in FIELDS:
                cal = part["calibration"][name]
                bands = "; ".join(f"{b['confidence']}: {b['accuracy']:.0%} of {b['n']}" for b in cal["bands"])
                lines.append(f"  calibration {name}: ECE {cal['ece']:.3f}; accuracy by confidence {bands}")
        if matrices:
            for name in FIELDS:
                lines.append(f"  {name} confusion matrix")
                lines.extend(_matrix_lines(part[name]))
    s = result["sentiment"]
    lines.append("")
    for name in ("vader_alone", "with_support_layer", "support_layer_and_model"):
        x = s.get(name)
        if x is None:
            continue
        if x["angry"] or x["calm"]:
            lines.append(
                f"sentiment {name.replace('_', ' ')} (frustrated at ≤ {s['threshold']:+.2f}): angry recall "
                f"{x['angry_found']}/{x['angry']} ({(x['angry_recall'] or 0):.1%}), calm flagged "
                f"{x['calm_flagged']}/{x['calm']} ({(x['calm_flagged_rate'] or 0):.1%})"
            )
    return "\n".join(lines)
