"""Which retention policy governs a case: pure selection, and the same precedence as a database filter.

Most specific wins: a policy for the case's category *and* organisation, then one for its organisation,
then one for its category, then the default policy (neither). The organisation ranks above the category
because what an organisation's contract says about its data overrides a house rule for a kind of case.
Inactive policies take no part.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Q


@dataclass(frozen=True)
class Scope:
    """A policy's scope (None = any) and its id."""

    pk: int
    category_id: int | None
    organisation_id: int | None


def specificity(scope: Scope) -> int:
    return (2 if scope.organisation_id is not None else 0) + (1 if scope.category_id is not None else 0)


def applies(scope: Scope, category_id: int | None, organisation_id: int | None) -> bool:
    return (scope.category_id is None or scope.category_id == category_id) and (
        scope.organisation_id is None or scope.organisation_id == organisation_id
    )


def select_policy(
    scopes: Iterable[Scope], *, category_id: int | None, organisation_id: int | None
) -> Scope | None:
    """The policy that governs a case with this category and organisation, or None (no default policy)."""
    matching = [s for s in scopes if applies(s, category_id, organisation_id)]
    if not matching:
        return None
    # Ties cannot happen with the model's unique constraints; the lowest id decides if they ever do.
    return max(matching, key=lambda s: (specificity(s), -s.pk))


def governed_q(scope: Scope, scopes: Sequence[Scope]) -> Q:
    """A filter over Case: the cases `scope` governs — those it applies to and no more specific policy
    does. Equal to `select_policy(...) == scope` for every case (tested over every combination)."""
    q = Q()
    if scope.category_id is not None:
        q &= Q(category_id=scope.category_id)
    if scope.organisation_id is not None:
        q &= Q(organisation_id=scope.organisation_id)
    mine = specificity(scope)
    for other in scopes:
        if other.pk == scope.pk or specificity(other) < mine:
            continue
        if specificity(other) == mine and other.pk > scope.pk:
            continue  # a tie goes to the lowest id (select_policy); that is us
        # Cases `other` applies to are not ours (it is at least as specific and wins).
        theirs = Q()
        if other.category_id is not None:
            theirs &= Q(category_id=other.category_id)
        if other.organisation_id is not None:
            theirs &= Q(organisation_id=other.organisation_id)
        if not theirs:
            return Q(pk__in=[])
        q &= ~theirs
    return q
