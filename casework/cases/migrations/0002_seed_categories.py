from django.db import migrations

CATEGORIES = [
    ("authentication", "Authentication", "Sign-in, passwords, 2FA, SSO and account access."),
    ("billing", "Billing", "Invoices, charges, refunds, plans and payment methods."),
    ("bug", "Bug", "The product does something wrong: errors, crashes, wrong results."),
    ("data", "Data", "Missing, wrong or lost data; imports and exports."),
    ("performance", "Performance", "Slowness, timeouts, degraded service."),
    ("question", "Question", "How-to questions and guidance."),
    ("feature-request", "Feature request", "Something the product does not do yet."),
    ("other", "Other", "Anything that fits no other category."),
]


def seed(apps, schema_editor):
    Category = apps.get_model("cases", "Category")
    for slug, name, description in CATEGORIES:
        Category.objects.update_or_create(slug=slug, defaults={"name": name, "description": description})


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
