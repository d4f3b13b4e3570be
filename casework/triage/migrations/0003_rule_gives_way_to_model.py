from django.db import migrations, models

from casework.core.config import _trigger_sql, watch_tables
from casework.triage.default_rules import GIVES_WAY_TO_MODEL

# What rules do (cases/migrations/0004_config_version.py), now with the new column.
RULE_COLUMNS = (
    "name", "trigger", "conditions", "actions", '"order"', "stop_processing", "enabled", "gives_way_to_model",
)  # fmt: skip


def mark_shipped_keyword_rules(apps, schema_editor):
    Rule = apps.get_model("triage", "Rule")
    Rule.objects.filter(key__in=GIVES_WAY_TO_MODEL).update(gives_way_to_model=True)


def rewatch_rules(apps, schema_editor):
    # SQLite rebuilds the table to add a column, which drops its triggers: without them a new rule would
    # not bump the configuration version and every process would keep its cached rule set.
    for sql in _trigger_sql(schema_editor.connection.vendor, "triage_rule", RULE_COLUMNS)[1]:
        schema_editor.execute(sql)
    watch_tables(("triage_rule", RULE_COLUMNS)).code(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("triage", "0002_default_rules"), ("cases", "0004_config_version")]
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
        migrations.RunPython(rewatch_rules, migrations.RunPython.noop),
        migrations.RunPython(mark_shipped_keyword_rules, migrations.RunPython.noop),
    ]
