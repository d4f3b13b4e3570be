"""Team leads hold the lead role: raise every current team lead whose role is below lead (a manager or
admin is never lowered), with a StaffChange row per raise. Reversing leaves the roles as they are (the
previous role is in the audit rows)."""

from django.db import migrations


def raise_team_leads(apps, schema_editor):
    Team = apps.get_model("people", "Team")
    AgentProfile = apps.get_model("people", "AgentProfile")
    StaffChange = apps.get_model("people", "StaffChange")
    for team in Team.objects.filter(lead__isnull=False).order_by("pk"):
        profile = AgentProfile.objects.filter(user_id=team.lead_id, role="agent").first()
        if profile is None:
            continue
        profile.role = "lead"
        profile.save(update_fields=["role"])
        user = profile.user
        StaffChange.objects.create(
            kind="role_changed",
            team=team,
            subject_id=team.lead_id,
            subject_label=(f"{user.first_name} {user.last_name}".strip() or user.username)[:200],
            actor_label="migration",
            before={"role": "agent"},
            after={"role": "lead"},
            reason=f"Raised to lead: leads {team.name} (team leads hold the lead role)",
        )


class Migration(migrations.Migration):
    dependencies = [("people", "0007_staff_changes")]

    operations = [migrations.RunPython(raise_team_leads, migrations.RunPython.noop)]
