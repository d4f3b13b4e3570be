"""The configuration version (casework/core/config.py): one row, set to a fresh random value by
triggers on every configuration table, so caches of rules, policies and teams are never stale."""

from django.db import migrations

from casework.core.config import TABLE, watch_tables

WATCHED = (
    "cases_category",
    # What rules do, not how often they matched (matched_count, last_matched_at change on every write).
    ("triage_rule", ("name", "trigger", "conditions", "actions", '"order"', "stop_processing", "enabled")),
    "triage_cannedreply",
    "sla_calendar",
    "sla_policy",
    "sla_policytarget",
    "sla_policy_teams",
    "people_team",
    "people_skill",
    "people_agentskill",
    "routing_outofoffice",
)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0003_assignee_load_index"),
        ("triage", "0002_default_rules"),
        ("sla", "0002_seed_defaults"),
        ("people", "0002_team_cover_policy"),
        ("routing", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE TABLE {TABLE} (id integer PRIMARY KEY, version bigint NOT NULL)",
            f"DROP TABLE {TABLE}",
        ),
        watch_tables(*WATCHED),
    ]
