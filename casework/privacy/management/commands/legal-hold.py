from django.core.management.base import BaseCommand, CommandError

from casework.cases.models import Case
from casework.core.errors import ApplicationError
from casework.people.models import Organisation
from casework.privacy import services


class Command(BaseCommand):
    help = "Set or release a legal hold on a case (--case REF) or an organisation (--organisation NAME)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["set", "release"])
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--case", help="Case reference, e.g. CW-000123")
        target.add_argument("--organisation", help="Organisation name")
        parser.add_argument("--reason", required=True, help="Why (recorded on the case timeline)")

    def handle(self, *args, **options) -> None:
        actor, reason, setting = "command:legal-hold", options["reason"], options["action"] == "set"
        try:
            if options["case"]:
                case = Case.objects.filter(reference__iexact=options["case"].strip()).first()
                if case is None:
                    raise CommandError(f"No case {options['case']!r}")
                door = services.case_set_legal_hold if setting else services.case_release_legal_hold
                door(case=case, actor=actor, reason=reason)
                what = case.reference
            else:
                organisation = Organisation.objects.filter(
                    name__iexact=options["organisation"].strip()
                ).first()
                if organisation is None:
                    raise CommandError(f"No organisation {options['organisation']!r}")
                door = (
                    services.organisation_set_legal_hold
                    if setting
                    else services.organisation_release_legal_hold
                )
                door(organisation=organisation, actor=actor, reason=reason)
                what = organisation.name
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} [{exc.code}]") from exc
        self.stdout.write(f"Legal hold {'set on' if setting else 'released from'} {what}")
