"""Install the playbook's default rules (editable in admin afterwards)."""

from django.db import migrations


def install(apps, schema_editor):
    from casework.triage.default_rules import DEFAULT_RULES

    Rule = apps.get_model("triage", "Rule")
    for definition in DEFAULT_RULES:
        if Rule.objects.filter(key=definition["key"]).exists():
            continue
        Rule.objects.create(
            key=definition["key"],
            name=definition["name"],
            description=definition.get("description", ""),
            trigger=definition["trigger"],
            conditions=definition.get("conditions") or {},
            actions=definition.get("actions", []),
            order=definition.get("order", 100),
            stop_processing=definition.get("stop_processing", False),
        )


class Migration(migrations.Migration):
    dependencies = [("triage", "0001_initial")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
