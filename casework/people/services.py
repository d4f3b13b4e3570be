"""Writes for customers and organisations."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from casework.core.errors import Conflict, ValidationFailed
from casework.core.text import email_domain, normalise_whitespace

from .models import Customer, Organisation, OrganisationDomain, OrganisationTier


def normalise_email(address: str) -> str:
    address = (address or "").strip().lower()
    try:
        validate_email(address)
    except ValidationError as exc:
        raise ValidationFailed(f"'{address}' is not a valid email address", code="invalid_email") from exc
    return address


def organisation_for_email(address: str) -> Organisation | None:
    domain = email_domain(address)
    if not domain:
        return None
    # `domain` is unique: no ordering needed (building the ORDER BY cost more than the lookup).
    match = next(iter(OrganisationDomain.objects.select_related("organisation").filter(domain=domain)), None)
    return match.organisation if match else None


def customer_get_or_create(*, email: str, name: str = "", phone: str = "") -> tuple[Customer, bool]:
    """Find the customer by email (case-insensitive) or create them, inferring the organisation from the
    email domain. An existing customer's blank name/phone is filled in; a known name is never overwritten
    by whatever a mail client put in From."""
    email = normalise_email(email)
    name = normalise_whitespace(name)[:200]
    # LOWER(email) = address is what the unique index (customer_email_unique_ci) covers, so this is an
    # index lookup; email__iexact (LIKE / UPPER) scanned the whole table on every mail and API create.
    # The index also means at most one row: no ordering needed.
    existing = next(
        iter(
            Customer.objects.alias(email_ci=Lower("email"))
            .filter(email_ci=email)
            .select_related("organisation")
            .order_by()
        ),
        None,
    )
    if existing:
        changed = []
        if name and not existing.name:
            existing.name = name
            changed.append("name")
        if phone and not existing.phone:
            existing.phone = phone
            changed.append("phone")
        if existing.organisation_id is None and (org := organisation_for_email(email)):
            existing.organisation = org
            changed.append("organisation")
        if changed:
            existing.save(update_fields=[*changed, "updated_at"])
        return existing, False
    customer = Customer(email=email, name=name, phone=phone, organisation=organisation_for_email(email))
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError:
        # Another request created the same address between our read and write.
        return Customer.objects.get(email__iexact=email), False
    return customer, True


@transaction.atomic
def organisation_create(
    *,
    name: str,
    tier: str = OrganisationTier.STANDARD,
    vip: bool = False,
    domains: list[str] | None = None,
    notes: str = "",
    external_id: str = "",
) -> Organisation:
    name = normalise_whitespace(name)
    if not name:
        raise ValidationFailed("An organisation needs a name", code="invalid_name")
    if tier not in OrganisationTier.values:
        raise ValidationFailed(
            f"Unknown tier '{tier}'", code="invalid_tier", details={"allowed": OrganisationTier.values}
        )
    if Organisation.objects.filter(name__iexact=name).exists():
        raise Conflict(f"An organisation named '{name}' already exists", code="duplicate_organisation")
    org = Organisation.objects.create(name=name, tier=tier, vip=vip, notes=notes, external_id=external_id)
    for domain in domains or []:
        domain = domain.strip().lower().lstrip("@")
        if not domain:
            continue
        if OrganisationDomain.objects.filter(domain=domain).exists():
            raise Conflict(
                f"Domain '{domain}' already belongs to another organisation", code="duplicate_domain"
            )
        OrganisationDomain.objects.create(organisation=org, domain=domain)
        # Customers who wrote in before the organisation existed join it now.
        Customer.objects.filter(organisation__isnull=True, email__iendswith=f"@{domain}").update(
            organisation=org
        )
    return org


@transaction.atomic
def customer_create(
    *,
    email: str,
    name: str = "",
    phone: str = "",
    organisation: Organisation | None = None,
    external_id: str = "",
) -> Customer:
    email = normalise_email(email)
    if Customer.objects.filter(email__iexact=email).exists():
        raise Conflict(f"A customer with email '{email}' already exists", code="duplicate_customer")
    return Customer.objects.create(
        email=email,
        name=normalise_whitespace(name)[:200],
        phone=phone.strip(),
        organisation=organisation or organisation_for_email(email),
        external_id=external_id,
    )
