"""The table of the shared reports cache (settings.CACHES["reports"], a DatabaseCache): made here so that
`migrate` is the only set-up step, as for every other table."""

from django.core.management import call_command
from django.db import migrations

TABLE = "casework_reports_cache"


def create(apps, schema_editor):
    call_command("createcachetable", TABLE, database=schema_editor.connection.alias, verbosity=0)


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("reports", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
