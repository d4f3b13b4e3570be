"""Priority from impact: what a message says about how bad things are, as named, explainable signals.

Customers rarely write "critical"; they write "all 45 agents are locked out", "checkout is failing and we are
losing orders", "payroll runs tomorrow", or "no rush, whenever you have time". Each signal below is a small
set of patterns with a name an agent can read on the timeline. The signals are *features* of the learned
priority model (as tokens such as ``__impact_scope_all__`` appended to its text, so it learns how much each
weighs on the team's own history), and the same evidence is shown as "impact: scope 'all 45 agents',
revenue flow 'checkout'" beside its guess.

Negation is handled where it changes the meaning: "not urgent", "no rush", "not a big deal", "not blocking
us" are *low* signals, and a negated blocking/urgency cue does not count as one.

Pure: no Django. The written criteria agents see are `CRITERIA` (and `default_rules.PRIORITY_CRITERIA`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# How each signal pushes priority; the model learns the weights, this is what agents read.
CRITERIA: dict[str, tuple[str, str]] = {
    "scope_all": ("up", "many people affected: everyone / all users / the whole team / a count of users"),
    "revenue_flow": (
        "up",
        "a production or revenue flow: checkout, payments, payroll, orders, invoicing runs",
    ),
    "production": ("up", "production / live environment affected"),
    "outage": ("up", "down, outage, unavailable, nothing works"),
    "blocking": ("up", "people blocked: can't work, no workaround, stopped, stuck"),
    "money_loss": ("up", "money or customers being lost right now"),
    "data_loss": ("up", "data lost, deleted or corrupted"),
    "security": ("up", "security: breach, hacked, unauthorised access, leaked"),
    "deadline": ("up", "a deadline: today, tomorrow, by Friday, before the launch, end of month"),
    "duration": ("up", "it has lasted a while: since this morning, for 3 hours, two days"),
    "urgent_words": ("up", "urgent, asap, emergency, immediately (not negated)"),
    "key_account": ("up", "enterprise tier or VIP customer"),
    "single_user": ("down", "only one person or one record affected"),
    "workaround": ("down", "a workaround exists"),
    "question": ("down", "a question or how-to"),
    "feature_request": ("down", "a feature request or suggestion"),
    "cosmetic": ("down", "cosmetic: typo, alignment, colour, wording"),
    "no_rush": ("down", "explicitly not urgent: no rush, when you have time, not a big deal"),
}

_NEG = r"(?:not|isn't|is not|aren't|are not|wasn't|no|never|nothing|hardly)"


def _rx(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])(?:" + "|".join(alternatives) + r")(?![\w])", re.IGNORECASE)


_NUM = r"(?:\d[\d,]*|two|three|four|five|six|ten|twenty|fifty|hundreds?|dozens?|several|many|multiple)"
_PEOPLE = (
    r"(?:users?|people|staff|agents?|employees|customers|clients|colleagues|members|drivers|nurses|"
    r"teachers|students|stores?|shops?|branches|sites|locations|offices|accounts|teams?|tills|devices|"
    r"machines|patients|reps|technicians|cashiers)"
)

PATTERNS: dict[str, re.Pattern[str]] = {
    "scope_all": _rx(
        r"every(?:one|body)",
        r"all (?:of )?(?:our |the |my )?" + _PEOPLE,
        r"all " + _NUM + r" (?:of )?(?:our |the )?" + _PEOPLE,
        r"(?:whole|entire) (?:team|company|office|org|organi[sz]ation|department|staff|school|hospital|"
        r"site|warehouse|floor|region|country|business|store|chain|fleet)",
        r"no(?:body| one|one) (?:can|could|is able)",
        r"none of (?:us|our \w+|the \w+)",
        _NUM + r" " + _PEOPLE + r" (?:are |were |can't |cannot |have been )",
        r"(?:half|most|a third|two thirds|three quarters|the majority) (?:of )?(?:our |the |my )?(?:\w+ )?"
        + _PEOPLE,
        r"\d+ (?:of|out of) (?:our |the )?(?:\d+ )?" + _PEOPLE,
        # the same in the languages customers mix into business English (German, French, Spanish, Dutch)
        r"niemand kann",
        r"alle (?:unsere[n]? )?(?:kunden|mitarbeiter(?:innen)?|nutzer|benutzer|filialen)",
        r"aucun(?:e)? \w+ ne (?:peut|peuvent)",
        r"personne ne peut",
        r"tous (?:nos|les) (?:clients|utilisateurs|employés|salariés|magasins)",
        r"nadie puede",
        r"todos (?:los|nuestros) (?:clientes|usuarios|empleados)",
        r"niemand kan",
        r"alle (?:klanten|gebruikers|medewerkers)",
        # "in keiner unserer 5 Filialen", "aucun de nos hôtels", "ninguna de nuestras tiendas"
        r"kein(?:e|er|em|en)? (?:unserer|der) (?:\d+ )?\w+",
        r"aucun(?:e)? de (?:nos|mes) (?:\d+ )?\w+",
        r"ningun[oa]? de (?:nuestr[oa]s|mis) (?:\d+ )?\w+",
        r"company[- ]wide",
        r"across the board",
        r"all (?:of )?(?:our )?(?:sites|stores|branches|locations|regions|accounts|customers)",
    ),
    "revenue_flow": _rx(
        r"check[- ]?out",
        r"payments?",
        r"payroll",
        r"pay ?run",
        r"orders?",
        r"transactions?",
        r"card (?:payments?|terminals?|readers?)",
        r"till(?:s)?",
        r"point of sale",
        r"pos",
        r"sales",
        r"bookings?",
        r"invoicing run",
        r"billing run",
        r"salar(?:y|ies)",
        r"shopping cart",
        r"cart",
        r"zahlung(?:en)?",
        r"bezahlen",
        r"bestellungen",
        r"paiements?",
        r"commandes",
        r"réservations?",
        r"pagos?",
        r"pedidos",
        r"betalingen",
        r"bestellingen",
    ),
    "production": _rx(r"production", r"prod", r"live (?:site|system|environment|store|shop)", r"go[- ]live"),
    "outage": _rx(
        r"(?:is|are|went|goes|gone|still|completely|totally|all) down",
        r"down for",
        r"outage",
        r"unavailable",
        r"unreachable",
        r"nothing (?:works|is working|loads)",
        r"(?:5\d\d|503|502|500) (?:error|errors)?",
        r"not loading (?:at all|for anyone)",
        r"completely (?:broken|dead|offline)",
        r"offline",
        r"dead",
    ),
    "blocking": _rx(
        r"can(?:'|’)?t (?:work|do (?:my|our|any) \w+|do anything|operate|process|ship|trade|sell|continue)",
        r"cannot (?:work|do (?:my|our|any) \w+|do anything|operate|process|ship|trade|sell|continue)",
        r"unable to (?:work|operate|process|ship|trade|sell|continue|do anything)",
        r"(?:completely |totally )?blocked",
        r"(?:can(?:'|’)?t|cannot|unable to|not able to) (?:log|sign|get) ?(?:in|on|into)",
        r"locked out",
        r"funktionier(?:t|en) nicht",
        r"ne (?:fonctionne|marche)(?:nt)? (?:plus|pas)",
        r"no funciona(?:n)?",
        r"werkt niet",
        r"(?:können|kann) (?:nichts|nicht mehr) (?:verkaufen|kassieren|arbeiten|buchen)",
        r"ne (?:pouvons|pouvez|peut|peuvent) (?:plus|pas|rien) (?:vendre|travailler|réserver|encaisser)",
        r"blocking",
        r"blocker",
        r"no work ?around",
        r"stuck",
        r"(?:at a |ground to a )?(?:standstill|halt)",
        r"sitting idle",
        r"dead in the water",
        r"stopped (?:all )?(?:work|production|shipping|operations|trading)",
        r"can(?:'|’)?t (?:take|accept) (?:orders|payments|bookings|cards)",
    ),
    "money_loss": _rx(
        r"los(?:e|ing|t) (?:money|revenue|sales|orders|customers|business|bookings)",
        r"verlieren (?:\w+ ){0,3}(?:umsatz|geld|kunden|aufträge)",
        r"perdons? (?:\w+ ){0,3}(?:argent|clients|ventes|chiffre)",
        r"costing us",
        r"(?:revenue|sales) (?:is|are) (?:dropping|down)",
        r"per (?:hour|minute)",
        r"refunds? (?:pile|piling)",
        r"charged (?:twice|double|multiple times)",
        r"double[- ]charged",
    ),
    "data_loss": _rx(
        r"(?:data|records|files|entries|history) (?:is |are |was |were |has |have )?(?:been )?(?:lost|gone|deleted|wiped|"  # noqa: E501
        r"corrupted|missing|disappeared|vanished)",
        r"(?:data|records|files|entries|history|orders|bookings|documents)(?: \w+){1,4} "
        r"(?:were|was|have been|has been|got|are|is) (?:lost|deleted|wiped|erased|corrupted|gone)",
        r"lost (?:all|every|our|my)",
        r"wiped",
        r"corrupt(?:ed|ion)?",
        r"disappeared",
        r"vanished",
    ),
    "security": _rx(
        r"hack(?:ed|er)",
        r"breach",
        r"compromised",
        r"unauthori[sz]ed",
        r"phishing",
        r"leak(?:ed)?",
        r"someone (?:else )?(?:logged|got) in",
        r"suspicious (?:login|activity|logins)",
        r"exposed",
        r"ransomware",
        r"malware",
        r"(?:see|sees|seeing|saw|shown|showing|visible to|sent to|emailed to) (?:an)?other "
        r"(?:customer|client|tenant|patient|family|user|member|guest|company|store|shop)(?:s|'s|s')?",
        r"(?:the )?wrong (?:customers?|clients?|tenants?|patients?|famil(?:y|ies)|users?|members?|guests?)"
        r"(?:'s?)? (?:data|details|records?|documents?|accounts?|portals?|files?)",
        r"someone else's (?:data|details|records?|documents?|account|files?)",
        r"(?:sent|went|emailed|mailed|posted|delivered) (?:out )?to the wrong "
        r"(?:customers|clients|tenants|patients|families|users|members|guests|people|recipients)",
        # Departed staff still getting in (the written criteria's "departed staff still with access"), told
        # without a security word: "a former employee still logging in", "deactivated him … the audit log
        # shows him logging in", "whose contract ended in August logged in last night".
        r"(?:former|ex|departed|previous)[- ](?:employee|staff member|member of staff|manager|contractor|"
        r"colleague|worker|locum|admin(?:istrator)?|technician|engineer|intern|partner)s?(?:'s)?"
        r"(?: [\w']+){0,4} "
        r"(?:still|again) (?:\w+ ){0,2}(?:log(?:s|ging|ged)? ?in|sign(?:s|ing|ed)? ?in|access(?:es|ing|ed)?|"
        r"ha(?:s|ve) access|active)",
        r"(?:(?:deactivated|disabled|offboarded|removed) (?:him|her|them|his|their|the user)"
        r"|let (?:him|her|them) go)(?: [\w.,']+){0,12} "
        r"(?:logging|logged|signing|signed) (?:in|on)",
        r"(?:contract|employment) (?:ended|was terminated|finished|ran out)(?: [\w.,']+){0,8} "
        r"(?:logged|logging|signed|signing) (?:in|on)",
        r"(?:left|leaving) (?:the company|the business|us)(?: [\w.,']+){0,8} (?:can )?still "
        r"(?:\w+ ){0,2}(?:log(?:ging|ged)? ?in|sign(?:ing|ed)? ?in|access(?:ing)?|ha(?:s|ve) access)",
    ),
    "deadline": _rx(
        r"(?:by|before|until|for) (?:today|tonight|tomorrow|monday|tuesday|wednesday|thursday|friday|"
        r"saturday|sunday|noon|eod|end of (?:day|the day|week|month|quarter|year)|the (?:launch|deadline|"
        r"audit|meeting|demo))",
        r"deadline",
        r"(?:today|tomorrow|tonight) (?:is|at|morning|afternoon|evening)",
        r"due (?:today|tomorrow|on)",
        r"in (?:an|one|two|\d+) hours?",
        r"month[- ]end",
        r"year[- ]end",
        r"(?:payroll|pay ?day|launch|go[- ]live|audit|event) (?:is |runs |starts )?(?:today|tomorrow|tonight)",  # noqa: E501
        r"time[- ]sensitive",
    ),
    "duration": _rx(
        r"since (?:this morning|yesterday|last night|monday|tuesday|wednesday|thursday|friday|\d{1,2}(?::\d\d)?"  # noqa: E501
        r" ?(?:am|pm)?|the update|the upgrade|the release)",
        r"for (?:the (?:last|past) )?" + _NUM + r" (?:hours?|days?|weeks?)",
        r"(?:all|the whole) (?:day|morning|afternoon|night|week)",
        r"still (?:not|down|broken|failing|waiting)",
        r"(?:third|fourth|fifth|3rd|4th) time",
        r"over an hour",
    ),
    "urgent_words": _rx(
        r"urgent(?:ly)?",
        r"asap",
        r"emergency",
        r"immediately",
        r"critical",
        r"right now",
        r"high priority",
        r"p1",
        r"sev ?1",
    ),
    "single_user": _rx(
        r"(?:just|only) (?:me|one (?:user|person|account|customer|record|invoice|order)|for me|my account)",
        r"one (?:of (?:our|my) )?(?:users?|employees?|colleagues?|staff members?) (?:can't|cannot|is)",
        r"a (?:single|specific|particular) (?:user|record|invoice|order|customer|account|page)",
        r"everyone else (?:is fine|can|is ok|seems fine)",
        r"(?:others|other users) (?:are fine|can|are not affected|aren't affected)",
    ),
    "workaround": _rx(
        r"work ?around",
        r"in the meantime (?:we|i) (?:can|use|are using)",
        r"(?:we|i) can (?:still )?(?:use|do it) (?:the|another|a different)",
        r"still works? (?:in|on|from|via)",
        r"works? (?:fine )?(?:in|on) (?:chrome|firefox|safari|edge|the app|mobile|desktop)",
        r"manually for now",
    ),
    "question": _rx(
        r"how (?:do|can|should|would|does) (?:i|we|you|one)",
        r"how to",
        r"is (?:it|there) (?:possible|a way)",
        r"can (?:i|we|you) (?:change|set|add|export|get|use|have|see)",
        r"where (?:can|do) (?:i|we)",
        r"what (?:is|are|does|happens)",
        r"quick question",
        r"(?:just )?wondering",
        r"could you (?:explain|tell|clarify|confirm)",
        r"do you (?:support|offer|have)",
        r"any (?:docs|documentation|guide)",
    ),
    "feature_request": _rx(
        r"feature request",
        r"would (?:be|love|like) (?:great|nice|useful|handy|helpful|to see|it if)",
        r"(?:please|could you|can you) (?:add|consider|support)",
        r"suggestion",
        r"(?:any|are there) plans (?:to|for)",
        r"wish(?:list| list)?",
        r"it would help (?:if|to)",
        r"roadmap",
        r"idea",
        r"in a future (?:version|release|update)",
    ),
    "cosmetic": _rx(
        r"cosmetic",
        r"typos?",
        r"spelling",
        r"misaligned",
        r"alignment",
        r"(?:font|colou?r|logo|icon|button|label|wording|spacing|padding)s? (?:is|are|looks?|seems?)",
        r"looks? (?:odd|weird|off|wrong)",
        r"minor (?:issue|thing|glitch|bug|detail)",
        r"small (?:thing|issue|glitch|detail)",
        r"tiny (?:thing|issue|glitch)",
        r"pixel",
        r"translation",
    ),
    "no_rush": _rx(
        r"not (?:urgent|critical|a priority|pressing|time[- ]sensitive)",
        r"no (?:rush|hurry|urgency|pressure)",
        r"not (?:a |that )?big deal",
        r"no big deal",
        r"(?:whenever|when) you (?:have|get) (?:a )?(?:time|chance|moment|minute)",
        r"low priority",
        r"nothing urgent",
        r"no impact",
        r"not (?:blocking|stopping) (?:us|me|anyone|anything|our)",
        r"(?:not|isn't) (?:affecting|impacting) (?:us|our|anyone|work)",
        r"can wait",
        r"at your (?:convenience|leisure)",
        r"just (?:fyi|letting you know|a heads up)",
        r"fyi",
    ),
}

# Cues whose meaning flips when negated a few words earlier ("it is not blocking us", "not urgent at all").
_NEGATABLE = {"blocking", "urgent_words", "outage", "scope_all", "money_loss", "data_loss"}
_NEGATION_BEFORE = re.compile(_NEG + r"(?:\s+\w+){0,2}\s*$", re.IGNORECASE)

TOKEN_PREFIX = "__impact_"


@dataclass(frozen=True)
class Signal:
    name: str
    direction: str  # "up" or "down"
    evidence: str  # the words that showed it

    @property
    def token(self) -> str:
        return f"{TOKEN_PREFIX}{self.name}__"


def _negated(text: str, start: int) -> bool:
    window = text[max(0, start - 30) : start]
    return bool(_NEGATION_BEFORE.search(window))


# The same patterns without IGNORECASE, run on the lower-cased text: half the time of a case-insensitive
# scan (the patterns are all lower case). Used whenever lower-casing keeps every offset where it was.
_LOWER = {name: re.compile(pattern.pattern) for name, pattern in PATTERNS.items()}


def signals(text: str, *, customer_tier: str = "standard", vip: bool = False) -> list[Signal]:
    """Every impact signal in ``text`` (first evidence of each), in `CRITERIA` order."""
    text = (text or "")[:6000]
    lowered = text.lower()
    same_offsets = len(lowered) == len(text)
    haystack = lowered if same_offsets else text
    found: list[Signal] = []
    for name, pattern in PATTERNS.items():
        for match in (_LOWER[name] if same_offsets else pattern).finditer(haystack):
            if name in _NEGATABLE and _negated(haystack, match.start()):
                continue
            found.append(Signal(name, CRITERIA[name][0], text[match.start() : match.end()]))
            break
    if customer_tier == "enterprise" or vip:
        found.append(Signal("key_account", "up", "VIP" if vip else "enterprise tier"))
    order = list(CRITERIA)
    return sorted(found, key=lambda s: order.index(s.name))


# What makes a message a *possible* critical even when the model's P(critical) is low: the impact the
# written criteria call critical (`default_rules.PRIORITY_CRITERIA`): a security or privacy incident, data
# lost or corrupted, money being lost, an outage, or many people hit where it stops work or a money flow.
# `classifier.Prediction.possible_critical` sends such a case to a person instead of deciding it lower.
CRITICAL_ALONE = frozenset({"security", "data_loss", "money_loss", "outage"})
CRITICAL_WITH_SCOPE = frozenset({"blocking", "revenue_flow", "production", "outage", "data_loss"})


# Evidence too weak to stand alone as a critical cue: "lost our parcel" is not lost data, "offline mode" is
# not an outage, "two records are missing" is not data loss at scale (they still count as signals for the
# model, and as a cue beside a scope word).
_WEAK_ALONE = re.compile(
    r"^(?:offline|dead|lost (?:all|every|our|my)|wiped|disappeared|vanished|.* missing)$", re.IGNORECASE
)


def critical_cues(found: list[Signal]) -> list[Signal]:
    """The signals that make a case a possible critical (empty: none)."""
    names = {s.name for s in found}
    cues = [s for s in found if s.name in CRITICAL_ALONE and not _WEAK_ALONE.match(s.evidence)]
    if "scope_all" in names and names & CRITICAL_WITH_SCOPE:
        cues += [s for s in found if s.name == "scope_all" or s.name in CRITICAL_WITH_SCOPE]
    seen: set[str] = set()
    return [s for s in cues if not (s.name in seen or seen.add(s.name))]


def tokens(found: list[Signal]) -> str:
    """The signals as words the model's vectoriser sees (a word n-gram per signal)."""
    return " ".join(s.token for s in found)


def describe(found: list[Signal], limit: int = 4) -> str:
    """'scope (all 45 agents), revenue flow (checkout)' for the timeline."""
    parts = [f"{s.name.replace('_', ' ')} '{s.evidence}'" for s in found[:limit]]
    return ", ".join(parts)
