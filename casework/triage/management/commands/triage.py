"""`casework triage train|evaluate|status`: the learned classifier on demand.

casework triage train                      shipped corpus + imported CSVs + the labelled history
casework triage train --from-csv old.csv   also learn from an inbox export (subject,body,category,priority)
casework triage train --search            choose classifier settings by grouped cross-validation first (slow)
casework triage evaluate FILE.jsonl        rules alone / model alone / combined on a labelled file
casework triage status                     the model in use and its CV scores
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from casework.cases.models import Category
from casework.triage import corpus, model_store, training


class Command(BaseCommand):
    help = "Train, evaluate or inspect the learned triage model."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        train = sub.add_parser("train", help="train a new model version and make it current")
        train.add_argument("--from-csv", dest="csv", help="an inbox export: subject,body,category,priority")
        train.add_argument("--no-corpus", action="store_true", help="leave the shipped corpus out")
        train.add_argument("--no-cv", action="store_true", help="skip the cross-validation scores")
        train.add_argument("--search", action="store_true", help="choose settings by CV on the training set")
        evaluate = sub.add_parser("evaluate", help="score rules, model and both on a labelled JSONL/CSV file")
        evaluate.add_argument("file")
        evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
        evaluate.add_argument("--no-matrices", action="store_true")
        sub.add_parser("status", help="the current model and its cross-validated scores")

    def handle(self, *args, **options) -> None:
        try:
            getattr(self, f"do_{options['action']}")(options)
        except (corpus.CorpusError, ValueError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc

    def do_train(self, options) -> None:
        from casework.triage import classifier

        if options["csv"]:
            n = training.import_csv(options["csv"])
            self.stdout.write(f"imported {n} labelled messages from {options['csv']}")
        params = None
        if options["search"]:
            examples, groups, _ = training.gather_grouped(use_corpus=not options["no_corpus"])
            params, _ = classifier.select_params(examples, groups=groups, log=self.stdout.write)
            self.stdout.write(f"chosen by cross-validation: {params.as_dict()}")
        meta = training.train(
            use_corpus=not options["no_corpus"], params=params, cv=not options["no_cv"], log=self.stdout.write
        )
        for held in (meta.get("heldout"), meta.get("holdout2"), meta.get("holdout3")):
            if not held:
                continue
            for system in ("model", "combined"):
                part, crit = held[system], held[system]["critical_recall"]
                self.stdout.write(
                    f"held-out {held['file']} ({held['n']} messages, never trained on), {system}: category "
                    f"{part['category']['accuracy']:.1%}, priority {part['priority']['accuracy']:.1%}, "
                    f"critical recall {crit['found']}/{crit['of']}"
                )
        self.stdout.write(self.style.SUCCESS(f"model {meta['version']} is now in use"))

    def do_evaluate(self, options) -> None:
        from casework.triage import evaluation
        from casework.triage.services import active_rules, triage_confidence

        categories = list(Category.objects.filter(active=True).values_list("slug", flat=True))
        messages = corpus.load(options["file"], categories=set(categories))
        loaded = active_rules("case_opened")
        rules = [spec for _, spec in loaded]
        fallback = frozenset(str(rule.pk) for rule, _ in loaded if rule.gives_way_to_model)
        model = model_store.current_model()
        if model is None:
            self.stderr.write("no model in use (casework triage train): rules alone")
        result = evaluation.evaluate(
            messages,
            rules=rules,
            model=model,
            threshold=triage_confidence(),
            categories=categories,
            frustrated_below=settings.CASEWORK["SENTIMENT_FRUSTRATED_BELOW"],
            fallback=fallback,
        )
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            self.stdout.write(evaluation.report(result, matrices=not options["no_matrices"]))

    def do_status(self, options) -> None:
        name = model_store.current_name()
        if name is None:
            self.stdout.write("no model trained yet: triage runs on the rules alone")
            return
        meta = next((m for m in model_store.versions() if m.get("version") == name), {})
        self.stdout.write(f"in use: {name} ({model_store.model_dir()})")
        self.stdout.write(
            json.dumps(
                {
                    k: meta.get(k)
                    for k in (
                        "trained_at",
                        "examples",
                        "sources",
                        "params",
                        "cv",
                        "heldout",
                        "holdout2",
                        "holdout3",
                    )
                },
                indent=2,
            )
        )
