"""Routing fixtures: a customer outside any VIP organisation and a case factory."""

from __future__ import annotations

import pytest

from casework.testing.factories import CustomerFactory, open_case


@pytest.fixture
def plain_customer(db):
    return CustomerFactory(name="Pat Plain", email="pat@plain.test")


@pytest.fixture
def new_case(plain_customer, teams):
    def make(**kwargs):
        kwargs.setdefault("team", teams[1])
        kwargs.setdefault("customer", plain_customer)
        # Neutral words, so the triage rules (running in hooks) leave the case as the test made it.
        kwargs.setdefault("description", "Please see below.")
        return open_case(subject=kwargs.pop("subject", "Hello"), **kwargs)

    return make
