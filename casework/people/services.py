"""Writes for customers and organisations."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Lower

from casework.core import config
from casework.core.errors import Conflict, ValidationFailed
from casework.core.text import email_domain, normalise_whitespace

from .models import Customer, CustomerChange, Organisation, OrganisationDomain, OrganisationTier

# RFC 5322 quoted-string local part: printable ASCII and blanks, with `"` and `\` only as quoted pairs.
# Django's validator refuses the blank in `"test test"@example.com`, which real mail uses and other helpdesks
# accept.
_QUOTED_LOCAL = re.compile(r'"(?:[ \t!#-\[\]-~]|\\[ -~])*"')


def normalise_email(address: str) -> str:
    address = (address or "").strip().lower()
    local, _, domain = address.rpartition("@")
    checked = f"quoted@{domain}" if local and _QUOTED_LOCAL.fullmatch(local) else address
    try:
        validate_email(checked)
    except ValidationError as exc:
        raise ValidationFailed(f"'{address}' is not a valid email address", code="invalid_email") from exc
    return address


def organisation_for_email(address: str) -> Organisation | None:
    return _organisations_by_domain([address]).get(email_domain(address))


def _organisations_by_domain(addresses: Iterable[str]) -> dict[str, Organisation]:
    """The organisations these addresses' domains belong to. Domains and organisations are configuration
    (triggers move the configuration version when either changes: migration 0007): read once per
    version, not on every new customer. Each caller gets its own copy of an organisation, so a write
    never shares an instance with another."""
    domains = {d for d in map(email_domain, addresses) if d}
    if not domains:
        return {}
    known = config.cached("organisation-domains", _load_organisation_domains)
    return {domain: copy.copy(known[domain]) for domain in domains if domain in known}


def _load_organisation_domains() -> dict[str, Organisation]:
    # `domain` is unique: no ordering needed.
    rows = OrganisationDomain.objects.select_related("organisation").order_by()
    return {row.domain: row.organisation for row in rows}


@dataclass(frozen=True)
class Contact:
    """Who wrote: an address, and the name/phone they gave (may be blank)."""

    email: str
    name: str = ""
    phone: str = ""


def customer_get_or_create(*, email: str, name: str = "", phone: str = "") -> tuple[Customer, bool]:
    """Find the customer by email (case-insensitive) or create them, inferring the organisation from the
    email domain. An existing customer's blank name/phone is filled in; a known name is never overwritten
    by whatever a mail client put in From."""
    email = normalise_email(email)
    return customers_get_or_create([Contact(email, name, phone)])[email]


def _phone_digits(phone: str) -> str:
    return re.sub(r"\D", "", phone or "")


# A savepoint of its own: it refuses a bad number after its transaction began, and without one that
# refusal broke an enclosing transaction (`make fuzz`: every API call after a refused call was a 500).
@transaction.atomic
def customer_for_caller(*, email: str = "", name: str = "", phone: str = "") -> tuple[Customer, bool]:
    """The customer on the phone: by email when the caller gave one, else by phone number (digits
    compared, so "+44 20 7946 0000" finds "+442079460000"), else a new customer with no email address
    (replies to them are not mailed; the agent calls back)."""
    if (email or "").strip():
        return customer_get_or_create(email=email, name=name, phone=phone)
    digits = _phone_digits(phone)
    if len(digits) < 5:
        raise ValidationFailed("Give the caller's email address or phone number", code="contact_required")
    for customer in (
        Customer.objects.filter(phone__isnull=False)
        .exclude(phone="")
        .select_related("organisation")
        .filter(phone__contains=digits[-4:])
    ):
        if _phone_digits(customer.phone) == digits:
            if name and not customer.name:
                customer.name = normalise_whitespace(name)[:200]
                customer.save(update_fields=["name", "updated_at"])
            return customer, False
    customer = Customer.objects.create(email=None, name=normalise_whitespace(name)[:200], phone=phone.strip())
    return customer, True


def customers_get_or_create(contacts: Sequence[Contact]) -> dict[str, tuple[Customer, bool]]:
    """`customer_get_or_create` for many contacts at once (a batch of mail), in three queries whatever
    the count; keyed by normalised address, with `created` telling which are new. An invalid address
    raises ValidationFailed and writes nothing."""
    wanted: dict[str, Contact] = {}
    for contact in contacts:
        email = normalise_email(contact.email)
        name = normalise_whitespace(contact.name)[:200]
        seen = wanted.get(email)
        wanted[email] = Contact(
            email, (seen.name if seen else "") or name, (seen.phone if seen else "") or contact.phone
        )
    if not wanted:
        return {}
    return _get_or_create(wanted)


# Inside a write this joins its transaction without a savepoint of its own: nothing in it is caught.
@transaction.atomic(savepoint=False)
def _get_or_create(wanted: dict[str, Contact]) -> dict[str, tuple[Customer, bool]]:
    # LOWER(email) IN (...) is what the unique index (customer_email_unique_ci) covers, so these are index
    # lookups; email__iexact (LIKE / UPPER) scanned the whole table on every mail and API create.
    found = {
        c.email.lower(): c
        for c in Customer.objects.alias(email_ci=Lower("email"))
        .filter(email_ci__in=list(wanted))
        .select_related("organisation")
        .order_by()
    }
    needs_org = [e for e in wanted if e not in found or found[e].organisation_id is None]
    organisations = _organisations_by_domain(needs_org)
    result: dict[str, tuple[Customer, bool]] = {}
    for email, existing in found.items():
        contact = wanted[email]
        changed = []
        if contact.name and not existing.name:
            existing.name = contact.name
            changed.append("name")
        if contact.phone and not existing.phone:
            existing.phone = contact.phone
            changed.append("phone")
        if existing.organisation_id is None and (org := organisations.get(email_domain(email))):
            existing.organisation = org
            changed.append("organisation")
        if changed:
            existing.save(update_fields=[*changed, "updated_at"])
        result[email] = (existing, False)
    new = [
        Customer(email=email, name=c.name, phone=c.phone, organisation=organisations.get(email_domain(email)))
        for email, c in wanted.items()
        if email not in found
    ]
    if not new:
        return result
    try:
        # SQLite takes its write lock at BEGIN IMMEDIATE: nobody can insert these addresses between our
        # read and write, so the savepoint that a concurrent insert needs on PostgreSQL is skipped there.
        with transaction.atomic(savepoint=connection.vendor != "sqlite"):
            Customer.objects.bulk_create(new)
        result.update((c.email, (c, True)) for c in new)
    except IntegrityError:
        # Another request created one of these addresses between our read and write: one at a time.
        for customer in new:
            customer.pk = None
            try:
                with transaction.atomic():
                    customer.save(force_insert=True)
                result[customer.email] = (customer, True)
            except IntegrityError:
                result[customer.email] = (Customer.objects.get(email__iexact=customer.email), False)
    return result


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


CUSTOMER_FIELDS = ("name", "email", "phone", "organisation", "external_id", "notes")
FIELD_LABELS = {"external_id": "CRM id"}


@transaction.atomic
def customer_update(*, customer: Customer, actor: Any = None, reason: str = "", **changes: Any) -> Customer:
    """Edit a customer's details and organisation; each save that changes something writes one
    `CustomerChange` naming the fields, old and new values, who and why. Their cases keep the
    organisation they were opened under; new cases take the new one."""
    unknown = set(changes) - set(CUSTOMER_FIELDS)
    if unknown:
        raise ValidationFailed(f"Cannot change {', '.join(sorted(unknown))}", code="unknown_field")
    locked = (
        Customer.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=customer.pk)
    )
    wanted: dict[str, Any] = {}
    for field_name, value in changes.items():
        if field_name == "email":
            value = normalise_email(value) if (value or "").strip() else None
            if value and Customer.objects.filter(email__iexact=value).exclude(pk=locked.pk).exists():
                raise Conflict(f"Another customer has the email '{value}'", code="duplicate_customer")
            if value is None and not (changes.get("phone", locked.phone) or "").strip():
                raise ValidationFailed("Keep an email address or a phone number", code="contact_required")
        elif field_name == "name":
            value = normalise_whitespace(value or "")[:200]
        elif field_name in ("phone", "external_id"):
            value = (value or "").strip()[:100]
        elif field_name == "notes":
            value = (value or "").strip()[:5000]
        elif field_name == "organisation" and value is not None and not isinstance(value, Organisation):
            raise ValidationFailed("organisation must be an organisation", code="invalid_organisation")
        wanted[field_name] = value
    diff: dict[str, list] = {}
    for field_name, value in wanted.items():
        old = getattr(locked, field_name)
        if field_name == "organisation":
            if (old.pk if old else None) != (value.pk if value else None):
                diff[field_name] = [old.name if old else None, value.name if value else None]
        elif (old or "") != (value or ""):
            diff[field_name] = [old, value]
    if not diff:
        return locked
    for field_name, value in wanted.items():
        setattr(locked, field_name, value)
    locked.save()
    CustomerChange.objects.create(customer=locked, actor=actor, changes=diff, reason=(reason or "")[:500])
    return locked
