"""Default calendars and policies from the support playbook.

Standard: critical 15 min / 4 h, high 1 h / 8 h, medium 4 h / 24 h, low 8 h / 72 h of business time on
a Monday–Friday 09:00–17:30 calendar; critical cases run on 24×7. Enterprise customers get half of each
target. The calendar's zone and holiday country come from CASEWORK_SLA_TIMEZONE / _HOLIDAY_COUNTRY.
"""

from datetime import timedelta

from django.conf import settings
from django.db import migrations

STANDARD = {
    "critical": (timedelta(minutes=15), timedelta(hours=4)),
    "high": (timedelta(hours=1), timedelta(hours=8)),
    "medium": (timedelta(hours=4), timedelta(hours=24)),
    "low": (timedelta(hours=8), timedelta(hours=72)),
}


def seed(apps, schema_editor):
    Calendar = apps.get_model("sla", "Calendar")
    Policy = apps.get_model("sla", "Policy")
    PolicyTarget = apps.get_model("sla", "PolicyTarget")
    conf = getattr(settings, "CASEWORK", {})
    office, _ = Calendar.objects.get_or_create(
        name="Office hours",
        defaults={
            "timezone": conf.get("SLA_TIMEZONE", "UTC") or "UTC",
            "week": {str(day): [["09:00", "17:30"]] for day in range(5)},
            "holiday_country": conf.get("SLA_HOLIDAY_COUNTRY", ""),
            "holiday_subdivision": conf.get("SLA_HOLIDAY_SUBDIVISION", ""),
        },
    )
    always, _ = Calendar.objects.get_or_create(
        name="24×7", defaults={"timezone": conf.get("SLA_TIMEZONE", "UTC") or "UTC", "always_open": True}
    )
    for name, order, tiers, factor, description in (
        ("Enterprise", 10, ["enterprise"], 0.5, "Enterprise contracts: half of the standard targets."),
        ("Standard", 100, [], 1.0, "Everyone else (playbook defaults)."),
    ):
        policy, created = Policy.objects.get_or_create(
            name=name,
            defaults={"order": order, "customer_tiers": tiers, "calendar": office, "description": description},
        )
        if not created:
            continue
        for priority, (first_response, resolution) in STANDARD.items():
            PolicyTarget.objects.create(
                policy=policy,
                priority=priority,
                first_response=first_response * factor,
                resolution=resolution * factor,
                calendar=always if priority == "critical" else None,
            )


class Migration(migrations.Migration):
    dependencies = [("sla", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
