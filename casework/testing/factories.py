"""factory_boy factories and personas for tests. Cases are opened through the services, never by
writing rows directly, so tests exercise the same door production does."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from casework.people.models import AgentProfile, Customer, Organisation, OrganisationDomain, Team

PASSWORD = "correct horse battery staple"


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Org {n}")
    tier = "standard"

    @factory.post_generation
    def domains(self, create, extracted, **kwargs):
        for domain in extracted or []:
            OrganisationDomain.objects.create(organisation=self, domain=domain)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.Sequence(lambda n: f"customer{n}@example.test")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.LazyAttribute(lambda o: o.username.capitalize())
    email = factory.LazyAttribute(lambda o: f"{o.username}@casework.test")
    password = factory.django.Password(PASSWORD)


def make_agent(username: str, *, tier: int = 1, teams=(), staff: bool = False, **profile):
    user = UserFactory(username=username, is_staff=staff, is_superuser=staff)
    agent, _ = AgentProfile.objects.get_or_create(user=user, defaults={"tier_level": tier, **profile})
    if teams:
        agent.teams.add(*teams)
    return user


def open_case(
    *, subject: str = "Printer on fire", description: str = "It is on fire.", customer=None, **kwargs
):
    from casework.cases import services

    return services.case_open(
        subject=subject, description=description, customer=customer or CustomerFactory(), **kwargs
    )
