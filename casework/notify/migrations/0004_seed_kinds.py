"""The shipped notification kinds and their English templates (casework/notify/kinds.py), and the
configuration-version triggers on the engine's tables (casework/core/config.py)."""

from django.db import migrations

from casework.core.config import watch_tables


def seed(apps, schema_editor):
    from casework.notify.kinds import install_kinds

    install_kinds(apps.get_model("notify", "NotificationKind"), apps.get_model("notify", "NotificationTemplate"))


class Migration(migrations.Migration):
    dependencies = [
        ("notify", "0003_notification_engine"),
        ("cases", "0004_config_version"),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
        watch_tables("notify_notificationkind", "notify_notificationtemplate", "notify_teamchannel"),
    ]
