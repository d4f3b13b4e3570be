from django.core.management.base import BaseCommand

from casework.core.demo import ADMIN_PASSWORD, DEMO_PASSWORD, load_demo


class Command(BaseCommand):
    help = (
        "Load realistic demo data (organisations, agents in L1/L2/L3, ~200 cases with timelines). Idempotent."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--cases", type=int, default=200, help="How many demo cases to create the first time."
        )

    def handle(self, *args, **options) -> None:
        result = load_demo(count=options["cases"])
        if result["cases_created"]:
            self.stdout.write(
                f"Created {result['cases_created']} demo cases ({result['cases_total']} in total)."
            )
        else:
            self.stdout.write(f"Demo data already present ({result['cases_total']} cases); nothing added.")
        self.stdout.write(
            f"Logins: admin / {ADMIN_PASSWORD} (administrator); ana, ben, chloe (L1), dev, eva (L2), "
            f"felix (L3) / {DEMO_PASSWORD}. "
            "Team leads (dashboard, rules, CSAT reviews): ana, ben, dev, felix."
        )
