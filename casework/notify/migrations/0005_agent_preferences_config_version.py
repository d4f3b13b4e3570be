"""Agents' notification preferences are read from the configuration cache (casework/core/config.py) by
every write that alerts an agent: their table gets the configuration-version triggers."""

from django.db import migrations

from casework.core.config import watch_tables


class Migration(migrations.Migration):
    dependencies = [("notify", "0004_seed_kinds")]

    operations = [watch_tables("notify_agentpreference")]
