"""JSON condition language for triage rules.

A definition is a tree of ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": node}`` and leaves
``{"field": ..., "op": ..., "value": ...}``. ``compile_conditions`` validates the whole tree up front (so an
admin sees every mistake when saving a rule, not when a customer writes in) and turns it into node objects
whose evaluation never raises: a missing fact or a value of the wrong type simply does not match.

Regex safety, two layers: patterns with a quantified group that itself contains a quantifier (``(a+)+``,
``(\\w*)*``, ``(x|y+){2,}``) are rejected at validation with a clear message, and ``matches`` runs on the
``regex`` module with a ``REGEX_TIMEOUT_SECONDS`` search timeout (a timed-out search counts as not matched),
because a length cap alone does not bound quadratic patterns (stdlib ``re`` took 3 s for ``a*b`` on 20k
``a``s). At most ``MAX_TEXT_CHARS`` characters of any text are examined.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

try:  # the parser moved in 3.11; both spellings are the same module
    import re._parser as _sre_parse  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_parse as _sre_parse  # type: ignore[no-redef]

# A 5 KB message takes ~20 µs to scan per regex; 20k characters is more than any real customer message
# body after quote stripping and keeps a pathological input bounded.
MAX_TEXT_CHARS = 20_000
MAX_PHRASES_PER_LEAF = 500
REGEX_TIMEOUT_SECONDS = 0.05

PRIORITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
PRIORITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(PRIORITIES)}
CUSTOMER_TIERS: tuple[str, ...] = ("standard", "business", "enterprise")
CATEGORIES: tuple[str, ...] = (
    "authentication",
    "billing",
    "bug",
    "data",
    "performance",
    "question",
    "feature request",
    "other",
)
CHANNELS: tuple[str, ...] = ("email", "web", "chat", "phone", "api", "webhook")
SUPPORT_TIERS: tuple[int, ...] = (1, 2, 3)

TEXT, CHOICE, BOOL, NUMBER, LIST = "text", "choice", "bool", "number", "list"

# field -> (kind, allowed values or None). Status is free text here because the case app owns that list.
FIELDS: dict[str, tuple[str, tuple[Any, ...] | None]] = {
    "subject": (TEXT, None),
    "body": (TEXT, None),
    "text": (TEXT, None),
    "organisation": (TEXT, None),
    "channel": (CHOICE, CHANNELS),
    "customer_tier": (CHOICE, CUSTOMER_TIERS),
    "priority": (CHOICE, PRIORITIES),
    "category": (CHOICE, CATEGORIES),
    "status": (CHOICE, None),
    "vip": (BOOL, None),
    "frustrated": (BOOL, None),
    "age_minutes": (NUMBER, None),
    "sentiment": (NUMBER, None),
    "tier": (NUMBER, SUPPORT_TIERS),
    "tags": (LIST, None),
}

OPERATORS_BY_KIND: dict[str, frozenset[str]] = {
    TEXT: frozenset({"eq", "ne", "in", "not_in", "contains_any", "contains_all", "matches"}),
    CHOICE: frozenset({"eq", "ne", "in", "not_in", "matches"}),
    BOOL: frozenset({"eq", "ne", "is_true", "is_false"}),
    NUMBER: frozenset({"eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte"}),
    LIST: frozenset({"has_tag", "contains_any", "contains_all"}),
}
PRIORITY_OPERATORS = frozenset({"priority_at_least", "priority_at_most"})
ALL_OPERATORS: frozenset[str] = frozenset().union(*OPERATORS_BY_KIND.values()) | PRIORITY_OPERATORS
NO_VALUE_OPERATORS = frozenset({"is_true", "is_false"})

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_MISSING = object()


class RuleDefinitionError(ValueError):
    """A rule's conditions or actions are invalid; ``path`` points at the offending node."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path or "(root)"
        self.detail = message
        super().__init__(f"{self.path}: {message}")


class RegexTimeout(Exception):
    """A ``matches`` search ran past its time budget; evaluated as not matched, with this as the reason."""


@dataclass(frozen=True)
class ConditionResult:
    matched: bool
    reasons: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=256)
def normalise_text(text: str) -> str:
    """Case-fold, unify apostrophes and cap length: the form phrase regexes are matched against."""
    return text[:MAX_TEXT_CHARS].casefold().translate(_APOSTROPHES)


_WORD_RUN = re.compile(r"\w+")
_WORD_CHAR = re.compile(r"\w")


# ASCII punctuation is never a word character, so turning it into spaces before split() keeps the result
# identical to _WORD_RUN.findall while letting str.split do the work (0.39 ms -> ~0.1 ms on 5 KB).
_ASCII_PUNCTUATION = str.maketrans({c: " " for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~"})


@functools.lru_cache(maxsize=64)
def words_in(normalised: str) -> frozenset[str]:
    """The set of ``\\w+`` runs in a text; built once per text and shared by every phrase leaf in a run."""
    tokens = set(normalised.translate(_ASCII_PUNCTUATION).split())
    # str.isalnum() is exactly re's \w minus "_", so only tokens with "_" or other punctuation need the regex.
    odd = [token for token in tokens if not token.isalnum()]
    tokens.difference_update(odd)
    for token in odd:
        tokens.update(_WORD_RUN.findall(token))
    return frozenset(tokens)


@functools.lru_cache(maxsize=64)
def _regex_input(text: str) -> str:
    return text[:MAX_TEXT_CHARS].translate(_APOSTROPHES)


def _phrase_pattern(phrase: str) -> str:
    words = normalise_text(phrase).split()
    # Any run of whitespace (or a hyphen, so "sign in" also finds "sign-in") may separate the words.
    return r"(?:\s+|\s*-\s*)".join(re.escape(word) for word in words)


def compile_phrases(phrases: Sequence[str]) -> re.Pattern[str]:
    """One alternation regex for a phrase list; group ``i + 1`` is ``phrases[i]``.

    Only the right boundary is in the pattern: a leading lookbehind stops ``re`` from using its fast
    literal-prefix scan (measured 100 µs vs 2.4 µs on 5 KB), so ``PhraseMatcher`` checks the left one.
    """
    groups = "|".join(f"({_phrase_pattern(p)})" for p in phrases)
    return re.compile(rf"(?:{groups})(?!\w)")


def _search_bounded(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    pos = 0
    while (match := pattern.search(text, pos)) is not None:
        start = match.start()
        if start == 0 or not _WORD_CHAR.match(text, start - 1):
            return match
        pos = start + 1
    return None


class PhraseMatcher:
    """Finds the first of several phrases in a text, on word boundaries.

    A phrase can only occur if every word in it occurs in the text, so a set lookup rules out most phrases
    before any regex runs; the alternation is then narrowed to the remaining candidates (cached per set of
    candidates). Without this, 50 rules on a 5 KB message took 22 ms; see bench/bench_triage.py.
    """

    __slots__ = ("_narrowed", "first_words", "phrases", "words")

    def __init__(self, phrases: Sequence[str]) -> None:
        self.phrases = list(phrases)
        tokenised = [_WORD_RUN.findall(normalise_text(p)) for p in self.phrases]
        self.words = [frozenset(tokens) for tokens in tokenised]
        # A phrase without any word character cannot be ruled out by words; "" keeps it from being skipped.
        self.first_words = frozenset(tokens[0] if tokens else "" for tokens in tokenised)
        compile_phrases(self.phrases)  # fail at validation time if the combined pattern is unusable
        self._narrowed: dict[tuple[int, ...], re.Pattern[str]] = {}

    def candidates(self, normalised: str) -> tuple[int, ...]:
        present = words_in(normalised)
        if "" not in self.first_words and present.isdisjoint(self.first_words):
            return ()  # the common case: none of the phrases can be there, decided at C speed
        return tuple(i for i, words in enumerate(self.words) if words <= present)

    def _pattern(self, indexes: tuple[int, ...]) -> re.Pattern[str]:
        pattern = self._narrowed.get(indexes)
        if pattern is None:
            if (
                len(self._narrowed) > 256
            ):  # bounded: the number of candidate subsets seen in practice is small
                self._narrowed.clear()
            pattern = self._narrowed[indexes] = compile_phrases([self.phrases[i] for i in indexes])
        return pattern

    def first(self, text: str) -> str | None:
        """The phrase occurring earliest in ``text`` (first listed wins at the same position)."""
        normalised = normalise_text(text)
        indexes = self.candidates(normalised)
        if not indexes:
            return None
        match = _search_bounded(self._pattern(indexes), normalised)
        if match is None or match.lastindex is None:
            return None
        return self.phrases[indexes[match.lastindex - 1]]

    def all_present(self, text: str) -> bool:
        normalised = normalise_text(text)
        if len(self.candidates(normalised)) != len(self.phrases):
            return False
        # One regex per phrase here: within a single alternation, overlapping phrases could hide each other.
        return all(_search_bounded(self._pattern((i,)), normalised) for i in range(len(self.phrases)))


def _fmt(value: Any) -> str:
    return (
        repr(value)
        if isinstance(value, str)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )


def _fmt_list(values: Sequence[Any]) -> str:
    return "[" + ", ".join(_fmt(v) for v in values) + "]"


# --- evaluation nodes -------------------------------------------------------------------------------------


class _Node:
    __slots__ = ()

    def eval(self, facts: Mapping[str, Any]) -> tuple[bool, list[str]]:
        raise NotImplementedError


class _Always(_Node):
    __slots__ = ()

    def eval(self, facts: Mapping[str, Any]) -> tuple[bool, list[str]]:
        return True, ["no conditions"]


class _All(_Node):
    __slots__ = ("children",)

    def __init__(self, children: list[_Node]) -> None:
        self.children = children

    def eval(self, facts: Mapping[str, Any]) -> tuple[bool, list[str]]:
        reasons: list[str] = []
        for child in self.children:
            ok, child_reasons = child.eval(facts)
            if not ok:
                return False, child_reasons
            reasons.extend(child_reasons)
        return True, reasons


class _Any(_Node):
    __slots__ = ("children",)

    def __init__(self, children: list[_Node]) -> None:
        self.children = children

    def eval(self, facts: Mapping[str, Any]) -> tuple[bool, list[str]]:
        reasons: list[str] = []
        for child in self.children:
            ok, child_reasons = child.eval(facts)
            if ok:
                return True, child_reasons
            reasons.extend(child_reasons)
        return False, reasons


class _Not(_Node):
    __slots__ = ("child",)

    def __init__(self, child: _Node) -> None:
        self.child = child

    def eval(self, facts: Mapping[str, Any]) -> tuple[bool, list[str]]:
        # The child's reasons already read as evidence either way ("subject contains none of ...").
        ok, reasons = self.child.eval(facts)
        return not ok, reasons


class _Leaf(_Node):
    """``test(fact) -> str | None`` returns the evidence when it matches; the fact is already type-checked."""

    __slots__ = ("fact_key", "kind", "miss", "test")

    def __init__(self, fact_key: str, kind: str, test: Callable[[Any], str | None], miss: str) -> None:
        self.fact_key = fact_key
        self.kind = kind
        self.test = test
        self.miss = miss

    def eval(self, facts: Mapping[str, Any]) -> tuple[bool, list[str]]:
        value = _fact(facts, self.fact_key)
        if value is _MISSING or not _type_ok(self.kind, value):
            return False, [f"{self.fact_key} is missing"]
        try:
            evidence = self.test(value)
        except RegexTimeout as exc:
            return False, [str(exc)]
        except (TypeError, ValueError, OverflowError):  # defensive: odd values must never break a rule run
            evidence = None
        if evidence is None:
            return False, [self.miss]
        return True, [evidence]


def _fact(facts: Mapping[str, Any], key: str) -> Any:
    if key == "text" and "text" not in facts:
        subject, body = facts.get("subject"), facts.get("body")
        parts = [p for p in (subject, body) if isinstance(p, str)]
        return "\n".join(parts) if parts else _MISSING
    value = facts.get(key, _MISSING)
    return _MISSING if value is None else value


def _type_ok(kind: str, value: Any) -> bool:
    if kind in (TEXT, CHOICE):
        return isinstance(value, str)
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
    if kind == LIST:
        return isinstance(value, list | tuple | set | frozenset)
    return False  # pragma: no cover


# --- compilation ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledCondition:
    definition: Any
    root: _Node
    fields: frozenset[str]

    def evaluate(self, facts: Mapping[str, Any]) -> ConditionResult:
        matched, reasons = self.root.eval(facts)
        return ConditionResult(matched, reasons)


def compile_conditions(definition: Any) -> CompiledCondition:
    """Validate ``definition`` completely and return a reusable evaluator.

    ``None`` or ``{}`` means "always matches" (a rule with only actions).
    """
    if definition is None or definition == {}:
        return CompiledCondition(definition, _Always(), frozenset())
    used: set[str] = set()
    root = _compile_node(definition, "", used)
    return CompiledCondition(definition, root, frozenset(used))


def _join(path: str, part: str) -> str:
    if not path:
        return part
    return f"{path}{part}" if part.startswith("[") else f"{path}.{part}"


def _compile_node(node: Any, path: str, used: set[str]) -> _Node:
    if not isinstance(node, dict):
        raise RuleDefinitionError(path, f"a condition must be an object, got {type(node).__name__}")
    groups = [k for k in ("all", "any", "not") if k in node]
    if groups:
        if len(node) != 1:
            extra = sorted(set(node) - {groups[0]})
            raise RuleDefinitionError(path, f"'{groups[0]}' must be the only key, found also {extra}")
        key = groups[0]
        sub_path = _join(path, key)
        if key == "not":
            return _Not(_compile_node(node["not"], sub_path, used))
        children = node[key]
        if not isinstance(children, list):
            raise RuleDefinitionError(sub_path, f"'{key}' needs a list of conditions")
        if key == "any" and not children:
            raise RuleDefinitionError(sub_path, "'any' needs at least one condition")
        compiled = [_compile_node(child, f"{sub_path}[{i}]", used) for i, child in enumerate(children)]
        return _All(compiled) if key == "all" else _Any(compiled)
    return _compile_leaf(node, path, used)


def _compile_leaf(node: dict[str, Any], path: str, used: set[str]) -> _Node:
    unknown = sorted(set(node) - {"field", "op", "value"})
    if unknown:
        raise RuleDefinitionError(path, f"unknown key(s) {unknown}; expected all/any/not or field/op/value")
    if "field" not in node:
        raise RuleDefinitionError(_join(path, "field"), "missing 'field'")
    if "op" not in node:
        raise RuleDefinitionError(_join(path, "op"), "missing 'op'")
    name, op = node["field"], node["op"]
    if not isinstance(name, str) or name not in FIELDS:
        raise RuleDefinitionError(_join(path, "field"), f"unknown field {name!r}; known: {sorted(FIELDS)}")
    if not isinstance(op, str) or op not in ALL_OPERATORS:
        raise RuleDefinitionError(_join(path, "op"), f"unknown operator {op!r}")
    kind, choices = FIELDS[name]
    allowed = OPERATORS_BY_KIND[kind] | (PRIORITY_OPERATORS if name == "priority" else frozenset())
    if op not in allowed:
        raise RuleDefinitionError(
            _join(path, "op"),
            f"operator {op!r} does not apply to field {name!r} ({kind}); use {sorted(allowed)}",
        )
    value_path = _join(path, "value")
    if op in NO_VALUE_OPERATORS:
        if node.get("value") not in (None, True):
            raise RuleDefinitionError(value_path, f"operator {op!r} takes no value")
        value = None
    elif "value" not in node:
        raise RuleDefinitionError(value_path, f"operator {op!r} needs a value")
    else:
        value = node["value"]
    used.add(name)
    test, miss = _BUILDERS[op](name, kind, choices, value, value_path)
    return _Leaf(name, kind, test, miss)


# Each builder validates the value and returns (test, description-when-not-matched).
_Built = tuple[Callable[[Any], str | None], str]


def _check_scalar(name: str, kind: str, choices: tuple[Any, ...] | None, value: Any, path: str) -> Any:
    if kind in (TEXT, CHOICE):
        if not isinstance(value, str):
            raise RuleDefinitionError(path, f"{name} compares with a string, got {type(value).__name__}")
        if choices is not None and value.casefold() not in choices:
            raise RuleDefinitionError(path, f"{value!r} is not a valid {name}; use one of {list(choices)}")
        return value.casefold()
    if kind == BOOL:
        if not isinstance(value, bool):
            raise RuleDefinitionError(path, f"{name} compares with true/false, got {value!r}")
        return value
    if kind == NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise RuleDefinitionError(path, f"{name} compares with a number, got {value!r}")
        if choices is not None and value not in choices:
            raise RuleDefinitionError(path, f"{value!r} is not a valid {name}; use one of {list(choices)}")
        return value
    raise RuleDefinitionError(path, f"{name} cannot be compared with a single value")  # pragma: no cover


def _comparable(kind: str, fact: Any) -> Any:
    return fact.casefold() if kind in (TEXT, CHOICE) else fact


def _build_eq(name: str, kind: str, choices: tuple[Any, ...] | None, value: Any, path: str) -> _Built:
    target = _check_scalar(name, kind, choices, value, path)

    def test(fact: Any) -> str | None:
        return f"{name} = {_fmt(fact)}" if _comparable(kind, fact) == target else None

    return test, f"{name} is not {_fmt(value)}"


def _build_ne(name: str, kind: str, choices: tuple[Any, ...] | None, value: Any, path: str) -> _Built:
    target = _check_scalar(name, kind, choices, value, path)

    def test(fact: Any) -> str | None:
        return f"{name} = {_fmt(fact)}, not {_fmt(value)}" if _comparable(kind, fact) != target else None

    return test, f"{name} is {_fmt(value)}"


def _check_list(name: str, kind: str, choices: tuple[Any, ...] | None, value: Any, path: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise RuleDefinitionError(path, "needs a non-empty list of values")
    return [_check_scalar(name, kind, choices, item, f"{path}[{i}]") for i, item in enumerate(value)]


def _build_in(name: str, kind: str, choices: tuple[Any, ...] | None, value: Any, path: str) -> _Built:
    targets = frozenset(_check_list(name, kind, choices, value, path))

    def test(fact: Any) -> str | None:
        return (
            f"{name} = {_fmt(fact)} (one of {_fmt_list(value)})"
            if _comparable(kind, fact) in targets
            else None
        )

    return test, f"{name} is not one of {_fmt_list(value)}"


def _build_not_in(name: str, kind: str, choices: tuple[Any, ...] | None, value: Any, path: str) -> _Built:
    targets = frozenset(_check_list(name, kind, choices, value, path))

    def test(fact: Any) -> str | None:
        if _comparable(kind, fact) in targets:
            return None
        return f"{name} = {_fmt(fact)} (none of {_fmt_list(value)})"

    return test, f"{name} is one of {_fmt_list(value)}"


_NUMERIC: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "lt": ("<", lambda a, b: a < b),
    "lte": ("<=", lambda a, b: a <= b),
    "gt": (">", lambda a, b: a > b),
    "gte": (">=", lambda a, b: a >= b),
}


def _numeric_builder(op: str) -> Callable[..., _Built]:
    symbol, compare = _NUMERIC[op]

    def build(name: str, kind: str, choices: tuple[Any, ...] | None, value: Any, path: str) -> _Built:
        target = _check_scalar(name, kind, None, value, path)

        def test(fact: Any) -> str | None:
            return f"{name} {symbol} {_fmt(value)} ({_fmt(fact)})" if compare(fact, target) else None

        return test, f"not {name} {symbol} {_fmt(value)}"

    return build


def _check_phrases(value: Any, path: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise RuleDefinitionError(path, "needs a non-empty list of phrases")
    if len(value) > MAX_PHRASES_PER_LEAF:
        raise RuleDefinitionError(path, f"at most {MAX_PHRASES_PER_LEAF} phrases per condition")
    for i, phrase in enumerate(value):
        if not isinstance(phrase, str) or not phrase.split():
            raise RuleDefinitionError(f"{path}[{i}]", f"a phrase must be a non-blank string, got {phrase!r}")
    return value


def _build_contains_any(
    name: str, kind: str, choices: tuple[Any, ...] | None, value: Any, path: str
) -> _Built:
    phrases = _check_phrases(value, path)
    if kind == LIST:
        wanted = {p.casefold(): p for p in phrases}

        def test_list(fact: Any) -> str | None:
            for item in fact:
                if isinstance(item, str) and item.casefold() in wanted:
                    return f"{name} has {_fmt(item)}"
            return None

        return test_list, f"{name} has none of {_fmt_list(phrases)}"

    matcher = PhraseMatcher(phrases)

    def test(fact: Any) -> str | None:
        found = matcher.first(fact)
        return None if found is None else f"{name} contains {_fmt(found)}"

    return test, f"{name} contains none of {_fmt_list(phrases)}"


def _build_contains_all(
    name: str, kind: str, choices: tuple[Any, ...] | None, value: Any, path: str
) -> _Built:
    phrases = _check_phrases(value, path)
    listed = ", ".join(_fmt(p) for p in phrases)
    if kind == LIST:
        wanted = [p.casefold() for p in phrases]

        def test_list(fact: Any) -> str | None:
            have = {item.casefold() for item in fact if isinstance(item, str)}
            return f"{name} has all of {listed}" if all(w in have for w in wanted) else None

        return test_list, f"{name} lacks one of {_fmt_list(phrases)}"

    matcher = PhraseMatcher(phrases)

    def test(fact: Any) -> str | None:
        return f"{name} contains {listed}" if matcher.all_present(fact) else None

    return test, f"{name} does not contain all of {_fmt_list(phrases)}"


def _is_repeat(op: Any, av: Any) -> bool:
    # "?" is a repeat with max 1; it cannot multiply backtracking, so it does not count.
    return op in (_sre_parse.MAX_REPEAT, _sre_parse.MIN_REPEAT) and av[1] > 1


def _has_repeat(items: Any) -> bool:
    for op, av in items:
        if _is_repeat(op, av):
            return True
        for sub in _subpatterns(op, av):
            if _has_repeat(sub):
                return True
    return False


def _subpatterns(op: Any, av: Any) -> list[Any]:
    if op is _sre_parse.SUBPATTERN:
        return [av[-1]]
    if op is _sre_parse.BRANCH:
        return list(av[1])
    if op in (_sre_parse.MAX_REPEAT, _sre_parse.MIN_REPEAT):
        return [av[2]]
    if op in (_sre_parse.ASSERT, _sre_parse.ASSERT_NOT):
        return [av[1]]
    return []


def _has_nested_quantifier(items: Any) -> bool:
    for op, av in items:
        if _is_repeat(op, av) and _has_repeat(av[2]):
            return True
        for sub in _subpatterns(op, av):
            if _has_nested_quantifier(sub):
                return True
    return False


def compile_safe_regex(pattern: Any, path: str) -> regex.Pattern[str]:
    """Compile a user regex, rejecting nested quantifiers that can backtrack exponentially."""
    if not isinstance(pattern, str) or not pattern:
        raise RuleDefinitionError(path, "needs a non-empty regular expression string")
    try:
        # Parsed with the stdlib too, so only re-compatible syntax (VERSION0) that admins know is accepted.
        parsed = _sre_parse.parse(pattern, re.IGNORECASE)
        compiled = regex.compile(pattern, regex.IGNORECASE | regex.VERSION0)
    except (re.error, regex.error) as exc:
        raise RuleDefinitionError(path, f"invalid regular expression: {exc}") from None
    if _has_nested_quantifier(list(parsed)):
        raise RuleDefinitionError(
            path, f"regular expression {pattern!r} nests quantifiers (e.g. (a+)+) and could run for ever"
        )
    return compiled


def _build_matches(name: str, kind: str, choices: tuple[Any, ...] | None, value: Any, path: str) -> _Built:
    compiled = compile_safe_regex(value, path)

    def test(fact: Any) -> str | None:
        try:
            match = compiled.search(_regex_input(fact), timeout=REGEX_TIMEOUT_SECONDS)
        except TimeoutError:
            raise RegexTimeout(
                f"{name} /{value}/ timed out after {REGEX_TIMEOUT_SECONDS * 1000:.0f} ms"
            ) from None
        return f"{name} matches /{value}/ ({match.group(0)[:60]!r})" if match else None

    return test, f"{name} does not match /{value}/"


def _build_is_true(name: str, kind: str, choices: tuple[Any, ...] | None, value: Any, path: str) -> _Built:
    return (lambda fact: f"{name} is true" if fact is True else None), f"{name} is false"


def _build_is_false(name: str, kind: str, choices: tuple[Any, ...] | None, value: Any, path: str) -> _Built:
    return (lambda fact: f"{name} is false" if fact is False else None), f"{name} is true"


def _priority_builder(at_least: bool) -> Callable[..., _Built]:
    words = "at least" if at_least else "at most"

    def build(name: str, kind: str, choices: tuple[Any, ...] | None, value: Any, path: str) -> _Built:
        target = PRIORITY_RANK[_check_scalar(name, kind, PRIORITIES, value, path)]

        def test(fact: Any) -> str | None:
            rank = PRIORITY_RANK.get(fact.casefold())
            if rank is None:
                return None
            ok = rank >= target if at_least else rank <= target
            return f"priority {_fmt(fact)} is {words} {_fmt(value)}" if ok else None

        return test, f"priority is not {words} {_fmt(value)}"

    return build


def _build_has_tag(name: str, kind: str, choices: tuple[Any, ...] | None, value: Any, path: str) -> _Built:
    if not isinstance(value, str) or not value.strip():
        raise RuleDefinitionError(path, "has_tag needs a tag name")
    wanted = value.casefold()

    def test(fact: Any) -> str | None:
        has = any(isinstance(t, str) and t.casefold() == wanted for t in fact)
        return f"{name} has {_fmt(value)}" if has else None

    return test, f"{name} lacks {_fmt(value)}"


_BUILDERS: dict[str, Callable[..., _Built]] = {
    "eq": _build_eq,
    "ne": _build_ne,
    "in": _build_in,
    "not_in": _build_not_in,
    "lt": _numeric_builder("lt"),
    "lte": _numeric_builder("lte"),
    "gt": _numeric_builder("gt"),
    "gte": _numeric_builder("gte"),
    "contains_any": _build_contains_any,
    "contains_all": _build_contains_all,
    "matches": _build_matches,
    "is_true": _build_is_true,
    "is_false": _build_is_false,
    "priority_at_least": _priority_builder(at_least=True),
    "priority_at_most": _priority_builder(at_least=False),
    "has_tag": _build_has_tag,
}
assert set(_BUILDERS) == ALL_OPERATORS, "every operator needs a builder"
