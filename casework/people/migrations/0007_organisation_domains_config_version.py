"""Organisations and their email domains are configuration: a new customer's organisation is found from
a cache of the domains (casework/people/services.py), so changes to either table move the configuration
version (casework/core/config.py) and every process reloads it."""

from django.db import migrations

from casework.core.config import watch_tables


class Migration(migrations.Migration):
    dependencies = [
        ("people", "0006_merge_harden"),
        ("cases", "0004_config_version"),
    ]

    operations = [watch_tables("people_organisation", "people_organisationdomain")]
