"""More configuration read by every case page, cached by the configuration version (core/config.py):
custom field definitions (also every write with custom fields) and the agents offered in the pickers.
Users and agent profiles bump the version only through the columns the pickers show: a login
(`update_fields=["last_login"]`) does not, nor a profile's availability or capacity saved with
`update_fields`. (A full `save()` names every column, so it bumps: harmless, every cache reloads once.)"""

from django.db import migrations

from casework.core.config import watch_tables


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0013_priority_order_index"),
        ("people", "0009_merge_domains_cache_and_lead_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        watch_tables(
            "cases_customfielddefinition",
            ("auth_user", ("username", "first_name", "last_name", "is_active")),
            ("people_agentprofile", ("user_id",)),
        )
    ]
