"""Triage on real cases: build facts, run the pure engine, apply the outcome through the case services.

These run inside the write that triggered them (the `triage` stage of `cases/pipeline.py`, see
`reactions.py`), on the write's in-memory case: every change a rule makes is a normal door call, so it
is validated and recorded, and costs no statement of its own — the unit of work writes it with the
rest. On top of that each matched rule writes a `rule_applied` event with the engine's explanation
("rule 'Outage' matched: subject contains 'system down' → priority critical"). A rule that errors is
disabled with its error kept on the rule and explained on the case, and triage carries on with the
others: a broken rule never breaks intake.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from casework.cases import services as case_services
from casework.cases.models import Case, CaseEvent, EventKind, Message, MessageKind
from casework.cases.services.unit_of_work import active, door, unit_of_work
from casework.cases.status import OPEN_STATUSES, PRIORITY_RANK
from casework.core import config
from casework.core.errors import ApplicationError
from casework.people.models import Team
from casework.people.selectors import team_for_tier, teams_by_name

from . import model_store, sentiment
from .conditions import RuleDefinitionError
from .decision import Decision, decide, to_fact
from .default_rules import DEFAULT_RULES, GIVES_WAY_TO_MODEL, PRIORITY_CRITERIA
from .engine import RuleOutcome, RuleSpec, apply_to_facts, simulate
from .models import CannedReply, Rule, RuleFiring

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# loading rules (compiled once per rule version)
# --------------------------------------------------------------------------------------------------

_cache_lock = threading.Lock()
_compiled: dict[tuple[int, datetime], RuleSpec] = {}


def _spec_for(rule: Rule) -> RuleSpec:
    key = (rule.pk, rule.updated_at)
    spec = _compiled.get(key)
    if spec is None:
        spec = rule.spec()
        with _cache_lock:
            for old in [k for k in _compiled if k[0] == rule.pk]:
                del _compiled[old]
            _compiled[key] = spec
    return spec


def _load_active(trigger: str) -> list[tuple[Rule, RuleSpec]]:
    rules = Rule.objects.filter(enabled=True, trigger=trigger).order_by("order", "id")
    return [(rule, _spec_for(rule)) for rule in rules]


def active_rules(trigger: str) -> list[tuple[Rule, RuleSpec]]:
    """The enabled rules of a trigger, compiled. Read once per configuration version (core/config.py):
    an edit anywhere — the admin, the API, another process, a `disable_rule` — is seen by the next write,
    and a batch of mail or an SLA sweep does not re-read the table for each event."""
    return config.cached(f"triage-rules:{trigger}", lambda: _load_active(trigger))


# --------------------------------------------------------------------------------------------------
# facts
# --------------------------------------------------------------------------------------------------


def category_fact(case: Case) -> str | None:
    # Category slugs use hyphens ("feature-request"); the rule language uses the names ("feature request").
    return case.category.slug.replace("-", " ") if case.category_id else None


def case_facts(
    case: Case, *, message: Message | None = None, tags: list[str] | None = None
) -> dict[str, Any]:
    """The facts rules see. `tags` defaults to a query; inside a write pass the write's view of them."""
    org = case.organisation
    body = message.body if message is not None else case.description
    age = (timezone.now() - case.created_at).total_seconds() / 60 if case.created_at else 0
    return {
        "subject": case.subject,
        "body": body or "",
        "text": f"{case.subject}\n{body or ''}",
        "channel": case.channel,
        "customer_tier": org.tier if org else "standard",
        "vip": bool(org and org.vip),
        "organisation": org.name if org else "",
        "priority": case.priority,
        "category": category_fact(case),
        "status": case.status,
        "age_minutes": age,
        "sentiment": case.sentiment if case.sentiment is not None else 0.0,
        "frustrated": case.frustrated,
        "tags": sorted(tags if tags is not None else case.tags.values_list("name", flat=True)),
        "tier": case.tier,
    }


# --------------------------------------------------------------------------------------------------
# running rules on a case
# --------------------------------------------------------------------------------------------------


@dataclass
class TriageResult:
    outcomes: list[RuleOutcome] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    decision: Decision | None = None  # rules + model, when a model was consulted


MODEL_ACTOR = "triage-model"


def triage_confidence() -> float:
    return settings.CASEWORK["TRIAGE_CONFIDENCE"]


def predict_for(case: Case, message: Message | None):
    """The learned model's guess for a case's message, or None (no model: rules alone). Memoised for the
    write: the triage stage and the sentiment score of the same message share one prediction."""
    model = model_store.current_model()
    if model is None:
        return None
    memo = active().scratch["triage-predictions"]
    key = (id(model), case.pk, message.pk if message is not None else None)
    if key in memo:
        return memo[key]
    org = case.organisation
    body = message.body if message is not None else case.description
    try:
        memo[key] = model.predict(
            case.subject, body or "", customer_tier=org.tier if org else "standard", vip=bool(org and org.vip)
        )
    except Exception:  # a model that cannot predict (an incompatible file) must not break intake
        logger.exception("triage model could not predict for %s; rules alone", case.reference)
        memo[key] = None
    return memo[key]


def _rule_actor(outcome: RuleOutcome) -> str:
    return f"rule:{outcome.rule_name}"


def _last_setting(outcomes: list[RuleOutcome], *types: str) -> RuleOutcome | None:
    found = None
    for outcome in outcomes:
        if outcome.matched and any(a.get("type") in types for a in outcome.actions):
            found = outcome
    return found


def _team_named(value: str) -> Team | None:
    team = next((t for name, t in teams_by_name().items() if name.casefold() == value.casefold()), None)
    if team is None and len(value) == 2 and value[0] in "lL" and value[1] in "123":
        # "L2" in the playbook means "the tier-2 team", whatever the team is called here.
        team = team_for_tier(int(value[1]))
    return team


def disable_rule(rule_id: Any, error: str) -> None:
    Rule.objects.filter(pk=rule_id).update(
        enabled=False, last_error=error[:2000], errored_at=timezone.now(), updated_at=timezone.now()
    )
    config.changed()  # the rest of this write (a batch of mail) must not run the rule again
    logger.error("triage rule %s disabled: %s", rule_id, error)


@door
def run_rules(
    *,
    case: Case,
    trigger: str,
    message: Message | None = None,
    explicit: frozenset[str] = frozenset(),
    use_model: bool = False,
) -> TriageResult:
    """Evaluate the enabled rules for `trigger` on `case` and apply what matched, inside the write in
    progress (or a write of its own).

    `explicit` names fields a person or API client chose when opening the case ("priority", "category"):
    rules do not overwrite those (they may still raise priority), and the explanation says so.

    `use_model` (a case opening): category and priority come from `decision.decide` — policy rules where
    they fire, else the learned model when confident, else the keyword rules that give way to it; a field
    none of them decided is left for a person (`result.decision.unsure`).
    """
    result = TriageResult()
    loaded = active_rules(trigger)
    work = active()
    case = work.lock(case)
    prediction = predict_for(case, message) if use_model else None
    if not loaded and prediction is None:
        return result
    tags = [tag.name for tag in work.tags_of(case)]
    facts = case_facts(case, message=message, tags=tags)
    specs = [spec for _, spec in loaded]
    final, outcomes = simulate(specs, trigger, facts)
    if prediction is not None:
        fallback = frozenset(str(rule.pk) for rule, _ in loaded if rule.gives_way_to_model)
        result.decision = decide(
            specs, facts, prediction, threshold=triage_confidence(), trigger=trigger, fallback=fallback
        )
    by_id = {str(rule.pk): rule for rule, _ in loaded}
    for outcome in outcomes:
        if outcome.error:
            disable_rule(by_id[outcome.rule_id].pk, outcome.error)
            result.errors.append(f"{outcome.rule_name}: {outcome.error}")
    matched = [o for o in outcomes if o.matched]
    result.outcomes = matched
    for outcome in matched:
        _record_applied(case, outcome, by_id[outcome.rule_id], trigger)
    if matched or result.decision is not None:
        _apply(case, matched, facts, final, explicit, result, by_id)
    return result


def _count_match(rule: Rule) -> None:
    """Count a match on the rule: at the write's flush, from the `rule_applied` events it writes — so a
    batch of mail that matches the same few rules over and over costs one UPDATE per distinct count, and
    the matches of a reaction step that was undone are not counted."""
    active().on_flush("triage-rule-counts", _write_counts)


def _write_counts(events: list[CaseEvent]) -> None:
    counts: dict[int, int] = {}
    for event in events:
        if event.kind == EventKind.RULE_APPLIED and (rule_id := (event.data or {}).get("rule_id")):
            counts[rule_id] = counts.get(rule_id, 0) + 1
    by_count: dict[int, list[int]] = {}
    for rule_id, count in counts.items():
        by_count.setdefault(count, []).append(rule_id)
    now = timezone.now()
    for count, ids in by_count.items():
        Rule.objects.filter(pk__in=ids).update(matched_count=F("matched_count") + count, last_matched_at=now)


def _record_applied(case: Case, outcome: RuleOutcome, rule: Rule, trigger: str) -> None:
    """Count the match on the rule and put the engine's explanation on the case timeline."""
    _count_match(rule)
    case_services.case_record_system_event(
        case=case,
        kind=EventKind.RULE_APPLIED,
        actor=_rule_actor(outcome),
        new={"rule": outcome.rule_name, "trigger": trigger},
        data={
            "rule_id": rule.pk,
            "rule": outcome.rule_name,
            "reasons": outcome.reasons,
            "actions": outcome.actions,
            "explanation": outcome.explanation,
        },
    )


def _apply(
    case: Case,
    matched: list[RuleOutcome],
    before: dict,
    final: dict,
    explicit: frozenset[str],
    result: TriageResult,
    by_id: dict[str, Rule],
) -> None:
    def run(outcome: RuleOutcome, label: str, fn) -> None:
        try:
            fn()
            result.changed.append(label)
        except ApplicationError as exc:
            # An action that cannot apply (unknown team, agent at capacity…) disables the rule so an admin
            # looks at it, and is explained on the case; the case itself is untouched by that action.
            error = f"action {label} failed: {exc.message}"
            disable_rule(by_id[outcome.rule_id].pk, error)
            result.errors.append(f"{outcome.rule_name}: {error}")
            case_services.case_record_system_event(
                case=case,
                kind=EventKind.NOTE,
                actor=_rule_actor(outcome),
                reason=error,
                data={"rule": outcome.rule_name, "error": exc.code},
            )

    def data_for(outcome: RuleOutcome) -> dict:
        return {
            "rule": outcome.rule_name,
            "rule_id": by_id[outcome.rule_id].pk,
            "explanation": outcome.explanation,
        }

    if result.decision is not None:
        _apply_decision(case, result.decision, before, explicit, run, data_for, result.changed)
    else:
        # Priority: the engine already resolved overrides and raise-only actions into final["priority"].
        who = _last_setting(matched, "set_priority", "raise_priority_to")
        if who and final.get("priority") and final["priority"] != before["priority"]:
            target = final["priority"]
            lowering = PRIORITY_RANK[target] > PRIORITY_RANK[before["priority"]]
            if "priority" in explicit and lowering:
                pass  # a person chose this priority; a rule may raise it but never lower it
            else:
                run(
                    who,
                    "priority",
                    lambda: case_services.case_set_priority(
                        case=case,
                        priority=target,
                        actor=_rule_actor(who),
                        reason=who.explanation,
                        data=data_for(who),
                    ),
                )
        who = _last_setting(matched, "set_category")
        if (
            who
            and final.get("category")
            and final["category"] != before["category"]
            and "category" not in explicit
        ):
            run(
                who,
                "category",
                lambda: case_services.case_set_category(
                    case=case,
                    category=final["category"],
                    actor=_rule_actor(who),
                    reason=who.explanation,
                    data=data_for(who),
                ),
            )
    new_tags = sorted(set(final.get("tags") or []) - set(before.get("tags") or []))
    who = _last_setting(matched, "add_tag")
    if who and new_tags:
        run(
            who,
            "tags",
            lambda: case_services.case_set_tags(
                case=case, add=new_tags, actor=_rule_actor(who), reason=who.explanation, data=data_for(who)
            ),
        )
    who = _last_setting(matched, "set_frustrated")
    if who and final.get("frustrated") and not before.get("frustrated"):
        run(
            who,
            "frustrated",
            lambda: case_services.case_set_sentiment(
                case=case, frustrated=True, actor=_rule_actor(who), reason=who.explanation
            ),
        )
    # A rule's escalation carries its explanation on the event (and the tier history's reason); no
    # hand-off note that would only repeat the rule sentence on the timeline.
    who = _last_setting(matched, "escalate_to_tier")
    if who and final.get("tier") and final["tier"] > before["tier"]:
        run(
            who,
            "tier",
            lambda: case_services.case_escalate(
                case=case,
                to_tier=final["tier"],
                actor=_rule_actor(who),
                reason=who.explanation,
                data=data_for(who),
            ),
        )
    who = _last_setting(matched, "assign_team")
    if who and final.get("team"):
        team = _team_named(str(final["team"]))
        if team is None:
            # Missing configuration, not a broken rule: say what is missing, keep the rule on (it works as
            # soon as the team exists) and leave the case where it is.
            _missing_team(case, who, by_id[who.rule_id], str(final["team"]))
        elif team.tier_level and team.tier_level > case.tier and case.team_id != team.pk:
            # A tier's team is reached by escalating to that tier: the case moves tier and team together
            # (tier history, SLA policy, the team's auto-assignment), never sits in L2 Support at L1.
            run(
                who,
                "team",
                lambda: case_services.case_escalate(
                    case=case,
                    to_tier=team.tier_level,
                    team=team,
                    actor=_rule_actor(who),
                    reason=who.explanation,
                    data=data_for(who),
                ),
            )
        else:
            run(
                who,
                "team",
                lambda: case_services.case_set_team(
                    case=case, team=team, actor=_rule_actor(who), reason=who.explanation, data=data_for(who)
                ),
            )
    who = _last_setting(matched, "assign_agent")
    if who and final.get("assignee"):
        user = get_user_model().objects.filter(username=final["assignee"], is_active=True).first()
        if user is None:
            run(who, "assignee", lambda: _raise_unknown("agent", final["assignee"]))
        else:
            run(
                who,
                "assignee",
                lambda: case_services.case_assign(
                    case=case,
                    assignee=user,
                    actor=_rule_actor(who),
                    reason=who.explanation,
                    data=data_for(who),
                ),
            )
    for outcome in matched:
        for action in outcome.actions:
            if action["type"] == "notify":
                run(outcome, "notify", lambda o=outcome, a=action: _notify(case, o, a["value"]))
            elif action["type"] == "send_canned_reply":
                run(outcome, "canned reply", lambda o=outcome, a=action: _send_canned(case, o, a["value"]))


def _missing_team(case: Case, outcome: RuleOutcome, rule: Rule, name: str) -> None:
    tier = f" and no team with tier level {name[1]}" if len(name) == 2 and name[0] in "lL" else ""
    message = (
        f"rule {outcome.rule_name!r} routes to team {name!r}, but this install has no team named "
        f"{name!r}{tier}: create it (admin → Teams) or change the rule's action. The rule stays enabled; "
        "the case keeps its team."
    )
    if rule.last_error != message:
        Rule.objects.filter(pk=rule.pk).update(last_error=message, errored_at=timezone.now())
    logger.warning("triage: %s", message)
    case_services.case_record_system_event(
        case=case,
        kind=EventKind.NOTE,
        actor=_rule_actor(outcome),
        reason=message,
        data={"rule": outcome.rule_name, "missing": {"team": name}},
    )


def _apply_decision(
    case: Case, decision: Decision, before: dict, explicit: frozenset[str], run, data_for, changed: list[str]
) -> None:
    """Category and priority as `decision.decide` settled them: by a rule (its explanation) or by the model
    ("model: billing (0.86); top terms: invoice, charged twice"). Unsure fields are left alone."""
    prediction = decision.prediction
    for name in ("priority", "category"):
        value = decision.values.get(name)
        source = decision.sources.get(name)
        if value is None or source not in ("rule", "model") or to_fact(name, value) == before.get(name):
            continue
        if name == "category" and "category" in explicit:
            continue
        if (
            name == "priority"
            and "priority" in explicit
            and PRIORITY_RANK[value] > PRIORITY_RANK[before[name]]
        ):
            continue  # a person chose this priority; triage may raise it but never lower it
        if source == "rule":
            who = decision.deciders[name]
            actor, reason, data = _rule_actor(who), who.explanation, data_for(who)
        else:
            head = prediction.head(name)
            actor, reason = MODEL_ACTOR, decision.explanations[name]
            data = {
                "model": (model_store.current_model() or _NoMeta).meta.get("version"),
                "confidence": round(head.confidence, 4),
                "guesses": [[label, round(p, 4)] for label, p in head.ranked[:3]],
                "top_terms": head.top_terms,
                "explanation": reason,
            }
            if name == "priority":
                data["impact"] = [[s.name, s.evidence] for s in prediction.signals]
        if name == "priority":
            fn = lambda v=value, a=actor, r=reason, d=data: case_services.case_set_priority(  # noqa: E731
                case=case, priority=v, actor=a, reason=r, data=d
            )
        else:
            fn = lambda v=value, a=actor, r=reason, d=data: case_services.case_set_category(  # noqa: E731
                case=case, category=v, actor=a, reason=r, data=d
            )
        outcome = decision.deciders.get(name)
        if outcome is not None:
            run(outcome, name, fn)
            continue
        try:
            fn()
            changed.append(name)
        except ApplicationError as exc:  # e.g. a category the model learned was deleted since
            case_services.case_record_system_event(
                case=case,
                kind=EventKind.NOTE,
                actor=MODEL_ACTOR,
                reason=f"model suggested {name} {value!r}, which could not be applied: {exc.message}",
                data={"triage": "model_suggestion_failed", "error": exc.code},
            )


class _NoMeta:
    meta: dict = {}


def _raise_unknown(what: str, value: Any) -> None:
    raise ApplicationError(f"no {what} named {value!r}", code=f"unknown_{what}")


def _notify(case: Case, outcome: RuleOutcome, value: dict) -> None:
    """Record who must be told and why. The notifications app subscribes to these `note` events with
    `data.notify` to deliver them by email/Slack/in-app."""
    recipient = value.get("to")
    case_services.case_record_system_event(
        case=case,
        kind=EventKind.NOTE,
        actor=_rule_actor(outcome),
        reason=value.get("message") or outcome.explanation,
        data={"notify": recipient, "rule": outcome.rule_name, "explanation": outcome.explanation},
    )
    logger.info("rule %s: notify %s about %s", outcome.rule_name, recipient, case.reference)


def _send_canned(case: Case, outcome: RuleOutcome, name: str) -> None:
    canned = CannedReply.objects.filter(name=name, active=True).first()
    if canned is None:
        raise ApplicationError(f"no active canned reply named {name!r}", code="unknown_canned_reply")
    # The acknowledgement gate: an automatic answer to an auto-responder (out-of-office, a list, a bounce)
    # would start two machines answering each other. The mail itself carries Auto-Submitted (notify).
    from casework.notify.engine import acknowledgeable

    work = active()
    trigger = [m for m in work.messages.values() if m.case_id == case.pk and m.kind == MessageKind.CUSTOMER]
    if trigger and not acknowledgeable(trigger[-1]):
        why = (trigger[-1].meta or {}).get("no_acknowledgement_reason") or "sent by a machine"
        case_services.case_record_system_event(
            case=case,
            kind=EventKind.NOTE,
            actor=_rule_actor(outcome),
            reason=f"Canned reply {name!r} not sent: the message it would answer was {why}",
            data={"canned": name, "rule": outcome.rule_name, "skipped": "acknowledgement gate"},
        )
        return
    case_services.case_add_message(
        case=case,
        kind=MessageKind.REPLY,
        body=canned.render(case),
        actor=_rule_actor(outcome),
        # Automatic: it reaches the customer but does not count as the first human response.
        meta={"automatic": True, "canned": name, "rule": outcome.rule_name},
    )


# --------------------------------------------------------------------------------------------------
# sentiment
# --------------------------------------------------------------------------------------------------


def frustrated_threshold() -> float:
    return settings.CASEWORK["SENTIMENT_FRUSTRATED_BELOW"]


@door
def score_customer_message(*, message: Message) -> float:
    """Score a customer message, store it, and keep the case's mood flag in step with the latest one."""
    work = active()
    case = work.lock(message.case)
    prediction = predict_for(case, message)
    angry = prediction.angry if prediction is not None else None
    assessment = sentiment.assess(message.body or "", angry_probability=angry)
    value = assessment.score
    work.set(work.messages.get(message.pk, message), sentiment=value)
    frustrated = sentiment.is_frustrated(value, threshold=frustrated_threshold())
    if case.frustrated != frustrated or case.sentiment != value:
        reason = (
            f"latest customer message scored {assessment.explanation()} "
            f"(frustrated at or below {frustrated_threshold():+.2f})"
        )
        case_services.case_set_sentiment(
            case=case,
            frustrated=frustrated,
            sentiment=value,
            actor="sentiment",
            reason=reason,
        )
    return value


# --------------------------------------------------------------------------------------------------
# default rules
# --------------------------------------------------------------------------------------------------


@transaction.atomic
def install_default_rules(*, update: bool = False) -> dict[str, int]:
    """Install the playbook rules. Existing rules (matched by key) are left alone unless `update`, so an
    admin's edits survive upgrades."""
    created = updated = 0
    for definition in DEFAULT_RULES:
        fields = {
            "gives_way_to_model": definition["key"] in GIVES_WAY_TO_MODEL,
            "name": definition["name"],
            "trigger": definition["trigger"],
            "conditions": definition.get("conditions") or {},
            "actions": definition.get("actions", []),
            "order": definition.get("order", 100),
            "stop_processing": definition.get("stop_processing", False),
            "description": definition.get("description", ""),
        }
        rule = Rule.objects.filter(key=definition["key"]).first()
        if rule is None:
            Rule.objects.create(key=definition["key"], **fields)
            created += 1
        elif update:
            for name, value in fields.items():
                setattr(rule, name, value)
            rule.save()
            updated += 1
    return {"created": created, "updated": updated}


# --------------------------------------------------------------------------------------------------
# scheduled rules
# --------------------------------------------------------------------------------------------------


def run_scheduled_rules(now: datetime | None = None, *, batch: int = 500) -> int:
    """Evaluate `scheduled` rules on open cases (oldest activity first), firing each rule once per case."""
    loaded = active_rules("scheduled")
    if not loaded:
        return 0
    now = now or timezone.now()
    fired = 0
    cases = list(
        Case.objects.filter(status__in=OPEN_STATUSES)
        .select_related("organisation", "category", "customer")
        .prefetch_related("tags")
        .order_by("updated_at")[:batch]
    )
    already = set(
        RuleFiring.objects.filter(case__in=cases, rule__in=[rule for rule, _ in loaded]).values_list(
            "rule_id", "case_id"
        )
    )
    # One write for the whole pass: the firings, the rules' changes and the reactions to them.
    with unit_of_work("scheduled rules"):
        for case in cases:
            facts = case_facts(case, tags=[tag.name for tag in case.tags.all()])
            for rule, spec in loaded:
                if (rule.pk, case.pk) in already:
                    continue
                _, outcomes = simulate([spec], "scheduled", facts)
                if outcomes and outcomes[0].error:
                    disable_rule(rule.pk, outcomes[0].error)
                    continue
                if outcomes and outcomes[0].matched:
                    active().insert(RuleFiring(rule=rule, case=case, fired_at=now))
                    run_rules_single(case=case, rule=rule, spec=spec)
                    fired += 1
    return fired


@door
def run_rules_single(*, case: Case, rule: Rule, spec: RuleSpec) -> None:
    work = active()
    case = work.lock(case)
    facts = case_facts(case, tags=[tag.name for tag in work.tags_of(case)])
    final, outcomes = simulate([spec], spec.trigger, facts)
    matched = [o for o in outcomes if o.matched]
    if not matched:
        return
    _record_applied(case, matched[0], rule, spec.trigger)
    _apply(case, matched, facts, final, frozenset(), TriageResult(), {str(rule.pk): rule})


def validate_definition(*, trigger: str, conditions: Any, actions: Any) -> None:
    """For forms and the API: raise RuleDefinitionError with a path for anything wrong."""
    RuleSpec(
        id="check", name="check", trigger=trigger, conditions=conditions, actions=actions, order=0
    ).validate()


__all__ = [
    "PRIORITY_CRITERIA",
    "RuleDefinitionError",
    "apply_to_facts",
    "install_default_rules",
    "run_rules",
    "run_scheduled_rules",
    "score_customer_message",
]
