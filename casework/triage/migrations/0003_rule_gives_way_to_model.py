from django.db import migrations, models

from casework.triage.default_rules import GIVES_WAY_TO_MODEL


def mark_shipped_keyword_rules(apps, schema_editor):
    Rule = apps.get_model("triage", "Rule")
    Rule.objects.filter(key__in=GIVES_WAY_TO_MODEL).update(gives_way_to_model=True)


class Migration(migrations.Migration):
    dependencies = [("triage", "0002_default_rules")]
    operations = [
        migrations.AddField(
            model_name="rule",
            name="gives_way_to_model",
            field=models.BooleanField(
                default=False,
                help_text="Its category/priority apply only where the learned model is unsure. Shipped keyword "
                "rules do; rules you write are policy and win over the model.",
            ),
        ),
        migrations.RunPython(mark_shipped_keyword_rules, migrations.RunPython.noop),
    ]
