"""The shipped notification kinds and their English templates (casework/notify/kinds.py), and the
configuration-version triggers on the engine's tables (casework/core/config.py)."""

from django.db import migrations

from casework.core.config import watch_tables


def seed(apps, schema_editor):
    from casework.notify.kinds import DEFAULTS

    Kind = apps.get_model("notify", "NotificationKind")
    Template = apps.get_model("notify", "NotificationTemplate")
    for d in DEFAULTS.values():
        kind, created = Kind.objects.get_or_create(
            key=d.key,
            defaults={
                "label": d.label,
                "audience": d.audience,
                "description": d.description,
                "essential": d.essential,
                "channels": list(d.channels),
                "recipients": list(d.recipients),
            },
        )
        Template.objects.get_or_create(
            kind=kind, channel="email", language="", defaults={"subject": d.subject, "body": d.body}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("notify", "0003_notification_engine"),
        ("cases", "0004_config_version"),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
        watch_tables("notify_notificationkind", "notify_notificationtemplate", "notify_teamchannel"),
    ]
