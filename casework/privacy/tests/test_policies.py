"""Policy selection: the most specific policy wins (pure), and the database filter agrees with it."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casework.privacy.policies import Scope, governed_q, select_policy

DEFAULT = Scope(pk=1, category_id=None, organisation_id=None)
CATEGORY = Scope(pk=2, category_id=10, organisation_id=None)
ORGANISATION = Scope(pk=3, category_id=None, organisation_id=20)
PAIR = Scope(pk=4, category_id=10, organisation_id=20)
ALL = [DEFAULT, CATEGORY, ORGANISATION, PAIR]


@pytest.mark.parametrize(
    ("category_id", "organisation_id", "expected"),
    [
        (10, 20, PAIR),
        (11, 20, ORGANISATION),
        (10, 21, CATEGORY),
        (10, None, CATEGORY),
        (None, 20, ORGANISATION),
        (None, None, DEFAULT),
        (11, 21, DEFAULT),
    ],
)
def test_most_specific_policy_wins(category_id, organisation_id, expected):
    assert select_policy(ALL, category_id=category_id, organisation_id=organisation_id) == expected


def test_organisation_outranks_category_and_no_default_means_no_policy():
    assert select_policy([CATEGORY, ORGANISATION], category_id=10, organisation_id=20) == ORGANISATION
    assert select_policy([CATEGORY], category_id=11, organisation_id=None) is None
    assert select_policy([], category_id=None, organisation_id=None) is None


scopes = st.lists(
    st.builds(
        lambda c, o: (c, o),
        st.one_of(st.none(), st.sampled_from([1, 2])),
        st.one_of(st.none(), st.sampled_from([1, 2])),
    ),
    unique=True,
    max_size=9,
).map(lambda pairs: [Scope(pk=i + 1, category_id=c, organisation_id=o) for i, (c, o) in enumerate(pairs)])


def _matches(q, category_id, organisation_id) -> bool:
    """Evaluate a Q over Case's category_id/organisation_id in memory, with SQL's NULL semantics as Django
    writes them for negated lookups on nullable columns."""
    if not q.children:
        return not q.negated
    results = []
    for child in q.children:
        if isinstance(child, tuple):
            name, value = child
            row = {"category_id": category_id, "organisation_id": organisation_id, "pk__in": None}
            if name == "pk__in":
                results.append(False)
            else:
                results.append(row[name] == value)
        else:
            results.append(_matches(child, category_id, organisation_id))
    combined = all(results) if q.connector == "AND" else any(results)
    return not combined if q.negated else combined


@given(scopes)
def test_governed_filter_equals_selection(policies):
    values = [None, 1, 2, 3]
    for category_id, organisation_id in itertools.product(values, values):
        chosen = select_policy(policies, category_id=category_id, organisation_id=organisation_id)
        for scope in policies:
            assert _matches(governed_q(scope, policies), category_id, organisation_id) == (chosen == scope)


@pytest.mark.django_db
def test_governed_filter_in_the_database(organisation):
    """The same agreement against real rows and SQL (NULLs included)."""
    from casework.cases.models import Case, Category
    from casework.people.models import Organisation
    from casework.testing.factories import CustomerFactory, open_case

    other = Organisation.objects.create(name="Other Org")
    categories = list(Category.objects.order_by("pk")[:2])
    combos = list(itertools.product([None, *categories], [None, organisation, other]))
    cases = {}
    for category, org in combos:
        case = open_case(subject="s", customer=CustomerFactory(organisation=org), category=category)
        Case.objects.filter(pk=case.pk).update(category=category, organisation=org)
        cases[case.pk] = (category.pk if category else None, org.pk if org else None)
    policies = [
        Scope(pk=1, category_id=None, organisation_id=None),
        Scope(pk=2, category_id=categories[0].pk, organisation_id=None),
        Scope(pk=3, category_id=None, organisation_id=organisation.pk),
        Scope(pk=4, category_id=categories[0].pk, organisation_id=organisation.pk),
    ]
    for scope in policies:
        got = set(
            Case.objects.filter(pk__in=cases).filter(governed_q(scope, policies)).values_list("pk", flat=True)
        )
        want = {
            pk
            for pk, (c, o) in cases.items()
            if select_policy(policies, category_id=c, organisation_id=o) == scope
        }
        assert got == want, scope
